from __future__ import annotations

import subprocess
import sys
import textwrap

import psutil
import pytest

from raysim.config import TopicsConfig
from raysim.sinks.admin import check_reachable
from raysim.sinks.embedded import EmbeddedBroker
from raysim.verify import read_topics

pytestmark = pytest.mark.kafka

PRODUCE_SCRIPT = textwrap.dedent(
    """
    import logging, sys
    import orjson
    from confluent_kafka import Producer

    bootstrap, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "compression.type": "lz4",
        "logger": logging.getLogger("producer"),
    })
    failed = []
    for n in range(count):
        producer.produce(
            topic,
            key=f"u{n % 5}",
            value=orjson.dumps({"user_id": f"u{n % 5}", "n": n}),
            timestamp=1_700_000_000_000 + n,
            on_delivery=lambda err, msg: err and failed.append(err),
        )
    left = producer.flush(20)
    sys.exit(f"{left} undelivered, {failed[:3]}" if left or failed else 0)
    """
)


def test_embedded_broker_serves_another_process(fresh_topics: TopicsConfig) -> None:
    with EmbeddedBroker() as embedded:
        bootstrap = embedded.bootstrap
        subprocess.run(
            [
                sys.executable,
                "-c",
                PRODUCE_SCRIPT,
                bootstrap,
                fresh_topics.orders,
                "50",
            ],
            check=True,
            timeout=60,
        )
        found = read_topics(bootstrap, fresh_topics, timeout_s=30)

    orders = found["orders"]
    assert sorted(r.value["n"] for r in orders) == list(range(50))
    assert all(r.key == r.value["user_id"] for r in orders)
    assert all(r.timestamp_ms == 1_700_000_000_000 + r.value["n"] for r in orders)
    assert len({r.partition for r in orders}) > 1  # auto-created with 4 partitions
    assert found["users"] == []


def test_embedded_broker_listens_on_loopback_only() -> None:
    embedded = EmbeddedBroker()
    bootstrap = embedded.start()
    try:
        host, port = bootstrap.rsplit(":", 1)
        assert host == "127.0.0.1"
        listening = [
            conn.laddr
            for conn in psutil.Process().net_connections(kind="tcp")
            if conn.status == psutil.CONN_LISTEN and conn.laddr.port == int(port)
        ]
        assert [addr.ip for addr in listening] == ["127.0.0.1"]
        check_reachable(bootstrap, {}, timeout_s=5)
    finally:
        embedded.close()


def test_embedded_broker_wrong_state_raises() -> None:
    embedded = EmbeddedBroker()
    with pytest.raises(RuntimeError, match="not started; call start"):
        _ = embedded.bootstrap
    embedded.start()
    with pytest.raises(RuntimeError, match="already started at 127.0.0.1:"):
        embedded.start()
    embedded.close()
    embedded.close()
    with pytest.raises(RuntimeError, match="closed; create a new one"):
        _ = embedded.bootstrap
    with pytest.raises(RuntimeError, match="closed; create a new one to start"):
        embedded.start()
