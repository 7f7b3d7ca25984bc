from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import Future

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from raysim.config import TopicsConfig
from raysim.errors import BrokerUnreachable, SinkError
from raysim.sinks.admin import check_reachable, client_config, ensure_topics

PRODUCER_CONF = {
    "client.id": "raysim-test",
    "linger.ms": 5,
    "enable.idempotence": True,
    "compression.type": "lz4",
    "on_delivery": lambda err, msg: None,
}


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that is bound but not listening, so connects are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def _partitions(bootstrap: str, names: list[str]) -> dict[str, int]:
    admin = AdminClient(client_config(bootstrap, None))
    topics = admin.list_topics(timeout=10).topics
    return {name: len(topics[name].partitions) for name in names if name in topics}


def test_client_config_keeps_connection_keys_only() -> None:
    conf = client_config(
        "127.0.0.1:1",
        {
            **PRODUCER_CONF,
            "bootstrap.servers": "elsewhere:9092",
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "PLAIN",
            "sasl.username": "u",
            "ssl.ca.location": "/tmp/ca.pem",
        },
    )
    conf.pop("logger")
    assert conf == {
        "bootstrap.servers": "127.0.0.1:1",
        "client.id": "raysim-test",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "u",
        "ssl.ca.location": "/tmp/ca.pem",
    }


@pytest.mark.kafka
def test_check_reachable_passes_for_running_broker(broker: str) -> None:
    check_reachable(broker, PRODUCER_CONF, timeout_s=10)


def test_check_reachable_closed_port_names_address_and_cause(closed_port: int) -> None:
    address = f"127.0.0.1:{closed_port}"
    started = time.monotonic()
    with pytest.raises(
        BrokerUnreachable,
        match=rf"Kafka at {address} is not reachable within 2 s .*Connection refused",
    ):
        check_reachable(address, PRODUCER_CONF, timeout_s=2)
    assert time.monotonic() - started < 10


def test_check_reachable_unresolvable_host_names_address() -> None:
    started = time.monotonic()
    with pytest.raises(
        BrokerUnreachable,
        match=r"Kafka at nonexistent\.invalid:9092 is not reachable.*resolve",
    ):
        check_reachable("nonexistent.invalid:9092", PRODUCER_CONF, timeout_s=2)
    assert time.monotonic() - started < 10


def test_check_reachable_error_is_retriable(closed_port: int) -> None:
    with pytest.raises(BrokerUnreachable) as caught:
        check_reachable(f"127.0.0.1:{closed_port}", None, timeout_s=0.5)
    assert caught.value.retriable


@pytest.mark.kafka
def test_ensure_topics_creates_missing_and_is_idempotent(
    broker: str, fresh_topics: TopicsConfig
) -> None:
    names = list(fresh_topics.names().values())
    assert ensure_topics(broker, PRODUCER_CONF, names[:2], 3, 1) == names[:2]
    assert ensure_topics(broker, PRODUCER_CONF, names, 3, 1) == names[2:]
    assert ensure_topics(broker, PRODUCER_CONF, names, 3, 1) == []
    assert _partitions(broker, names) == {name: 3 for name in names}


@pytest.mark.kafka
def test_ensure_topics_leaves_existing_partition_count(
    broker: str, fresh_topics: TopicsConfig
) -> None:
    assert ensure_topics(broker, {}, [fresh_topics.orders], 2, 1) == [
        fresh_topics.orders
    ]
    assert ensure_topics(broker, {}, [fresh_topics.orders], 5, 1) == []
    assert _partitions(broker, [fresh_topics.orders]) == {fresh_topics.orders: 2}


@pytest.mark.kafka
def test_ensure_topics_treats_already_exists_as_not_created(
    broker: str, fresh_topics: TopicsConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another client creates the topic between our metadata read and our request.
    def racing_create(self: AdminClient, topics: list, **kwargs: object) -> dict:
        future: Future = Future()
        future.set_exception(
            KafkaException(KafkaError(KafkaError.TOPIC_ALREADY_EXISTS, "exists"))
        )
        return {topics[0].topic: future}

    monkeypatch.setattr(AdminClient, "create_topics", racing_create)
    assert ensure_topics(broker, {}, [fresh_topics.users], 1, 1) == []


@pytest.mark.kafka
def test_ensure_topics_reports_broker_refusal(
    broker: str, fresh_topics: TopicsConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tansu accepts any topic, so the refusal a real cluster gives is simulated.
    def refusing_create(self: AdminClient, topics: list, **kwargs: object) -> dict:
        future: Future = Future()
        future.set_exception(
            KafkaException(
                KafkaError(
                    KafkaError.INVALID_REPLICATION_FACTOR,
                    "Replication factor: 3 larger than available brokers: 1.",
                )
            )
        )
        return {topics[0].topic: future}

    monkeypatch.setattr(AdminClient, "create_topics", refusing_create)
    with pytest.raises(
        SinkError,
        match=rf"Could not create topic '{fresh_topics.users}' on Kafka at {broker}: "
        r"Replication factor: 3 larger than available brokers: 1\.$",
    ):
        ensure_topics(broker, {}, [fresh_topics.users], 1, 3)


def test_ensure_topics_unreachable_broker_raises(closed_port: int) -> None:
    with pytest.raises(BrokerUnreachable, match=f"127.0.0.1:{closed_port}"):
        ensure_topics(f"127.0.0.1:{closed_port}", {}, ["t"], 1, 1, timeout_s=1)


@pytest.mark.parametrize(
    ("partitions", "replication_factor", "message"),
    [(0, 1, "partitions must be >= 1, got 0"), (1, 0, "replication_factor")],
)
def test_ensure_topics_rejects_bad_counts(
    partitions: int, replication_factor: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ensure_topics("127.0.0.1:1", {}, ["t"], partitions, replication_factor)
