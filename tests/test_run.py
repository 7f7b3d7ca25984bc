"""Whole runs: the driver, Ray actors and a real broker process on loopback."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from raysim import Simulation
from raysim.config import TOPIC_KEYS
from raysim.verify import read_topics, verify

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "configs" / "quickstart.yaml"
SAMPLE_USERS = ROOT / "raysim" / "data" / "sample_users.json"
SAMPLE_PRODUCTS = ROOT / "raysim" / "data" / "sample_products.json"

pytestmark = [pytest.mark.kafka]


def overrides_for(broker, topics, tmp_path, *extra):
    names = topics.names()
    return [
        f"kafka.bootstrap_servers={broker}",
        f"logging.dir={tmp_path / 'logs'}",
        *(f"kafka.topics.{key}={names[key]}" for key in TOPIC_KEYS),
        *extra,
    ]


def delivered_by_logical(report, topics):
    return {
        key: report["topics"][name]["delivered"] for key, name in topics.names().items()
    }


@pytest.mark.ray
def test_run_delivers_everything_and_it_reads_back_whole(
    ray_session, broker, fresh_topics, tmp_path
):
    sim = Simulation.from_yaml(
        QUICKSTART, overrides_for(broker, fresh_topics, tmp_path, "duration_s=20")
    )
    report = sim.run()

    for name, counts in report["topics"].items():
        assert counts["failed"] == 0, name
        assert counts["produced"] == counts["delivered"] > 0, name
    assert report["ok"] is True
    assert report["sessions"]["started"] >= 200
    expected = delivered_by_logical(report, fresh_topics)
    result = verify(broker, fresh_topics, expected=expected)
    assert result.problems == []
    assert result.counts == expected
    assert (tmp_path / "logs" / "quickstart-actor-0.log").exists()


@pytest.mark.ray
def test_run_on_user_and_product_files_keeps_their_ids_and_drops_secrets(
    ray_session, broker, fresh_topics, tmp_path
):
    extra = (
        "duration_s=10",
        f"users.path={SAMPLE_USERS}",
        "users.id_field=id",
        f"catalog.path={SAMPLE_PRODUCTS}",
    )
    report = Simulation.from_yaml(
        QUICKSTART, overrides_for(broker, fresh_topics, tmp_path, *extra)
    ).run()
    assert report["ok"] is True

    records = read_topics(broker, fresh_topics)
    users = json.loads(SAMPLE_USERS.read_text())
    products = json.loads(SAMPLE_PRODUCTS.read_text())
    user_ids = {str(u["id"]) for u in users}
    product_ids = {str(p["id"]) for p in products}
    assert sum(len(v) for v in records.values()) == sum(
        delivered_by_logical(report, fresh_topics).values()
    )
    for topic, rows in records.items():
        for row in rows:
            assert row.value["user_id"] in user_ids, topic
    items = [i["item_id"] for r in records["orders"] for i in r.value["items"]]
    items += [
        r.value["item_id"] for r in records["behaviours"] if r.value.get("item_id")
    ]
    assert items and set(items) <= product_ids
    secrets = [u["password"] for u in users] + [u["ssn"] for u in users]
    everything = b"".join(
        orjson.dumps(r.value) for rows in records.values() for r in rows
    )
    for secret in secrets:
        assert secret.encode() not in everything
    for key in (b'"password"', b'"ssn"', b'"cardNumber"', b'"iban"', b'"bank"'):
        assert key not in everything


def test_sigint_mid_run_loses_nothing_even_with_long_linger(
    broker, fresh_topics, tmp_path
):
    report_path = tmp_path / "report.json"
    command = [
        sys.executable,
        "-m",
        "raysim",
        "run",
        str(QUICKSTART),
        *(
            arg
            for o in overrides_for(
                broker, fresh_topics, tmp_path, "kafka.producer.linger.ms=2000"
            )
            for arg in ("--set", o)
        ),
        "--set",
        "duration_s=120",
        "--report",
        str(report_path),
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    lines = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if "events/s" in line and "sessions in flight" in line and len(lines) > 4:
                break
        else:
            pytest.fail("no progress within 60 s:\n" + "".join(lines))
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    lines.append(output)
    assert process.returncode == 0, "".join(lines)
    report = json.loads(report_path.read_text())
    for name, counts in report["topics"].items():
        assert counts["failed"] == 0, name
        assert counts["produced"] == counts["delivered"], name
    expected = delivered_by_logical(report, fresh_topics)
    assert sum(expected.values()) > 0
    result = verify(broker, fresh_topics, expected=expected)
    assert result.problems == []
