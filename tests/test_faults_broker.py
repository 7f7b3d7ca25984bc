"""The broker misbehaves: paused, gone, or never there. Each test starts its own Tansu
process (never the shared one) and ends it by PID.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from faults.common import (
    MARKER_ENV,
    QUICKSTART,
    Figures,
    LinkCutter,
    count_check,
    processes_with,
    record_figures,
    topic_overrides,
)

from raysim.cli import cli
from raysim.testing import TansuProcess, free_port

PAUSE_AT_S = 4.0
PAUSE_S = 20.0
UNREACHABLE_LIMIT_S = 10.0
CUT_WAIT_S = 30.0  # longest wait for the run's first record before the link is cut
CUT_AFTER_S = 1.0  # then this long for its first deliveries to be confirmed


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """`raysim run` adds handlers to the raysim loggers and ignores signals at its
    end; put both back afterwards."""
    names = ("raysim", "raysim.report")
    saved = {}
    for name in names:
        logger = logging.getLogger(name)
        saved[name] = (list(logger.handlers), logger.level, logger.propagate)
    signals = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in signals.items():  # `raysim run` ignores them at its end
        signal.signal(signum, handler)
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def run_cli(bootstrap, topics, tmp_path, *extra):
    report_path = tmp_path / f"report-{uuid.uuid4().hex[:6]}.json"
    args = ["run", str(QUICKSTART), "--report", str(report_path)]
    for override in (*topic_overrides(bootstrap, topics, tmp_path / "logs"), *extra):
        args += ["--set", override]
    result = CliRunner().invoke(cli, args)
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    return result, report


@pytest.mark.ray
@pytest.mark.kafka
def test_broker_paused_20_s_loses_nothing_and_progress_shows_the_stall(
    ray_session, fresh_topics, tmp_path
):
    with TansuProcess() as broker:
        pause = threading.Timer(PAUSE_AT_S, broker.pause)
        resume = threading.Timer(PAUSE_AT_S + PAUSE_S, broker.resume)
        pause.start()
        resume.start()
        try:
            result, report = run_cli(
                broker.bootstrap,
                fresh_topics,
                tmp_path,
                f"duration_s={PAUSE_AT_S + PAUSE_S + 6:g}",
            )
        finally:
            pause.cancel()
            resume.cancel()
            broker.resume()
        assert result.exit_code == 0, result.output
        stalled = [line for line in result.output.splitlines() if "WAITING FOR" in line]
        assert len(stalled) >= PAUSE_S - 5, result.output
        assert report["ok"] is True
        count_check(
            "broker paused 20 s (SIGSTOP, SIGCONT)",
            broker.bootstrap,
            fresh_topics,
            report,
            f"exit 0; {len(stalled)} progress lines said WAITING FOR BROKER",
        )


@pytest.mark.ray
@pytest.mark.kafka
def test_broker_gone_past_message_timeout_counts_failed_and_exits_1(
    ray_session, fresh_topics, tmp_path
):
    cutter = LinkCutter(free_port())
    with TansuProcess(advertised_port=cutter.listen_port) as broker:
        cutter.start(broker.port)
        # Cut once the run has delivered something, however long its start takes.
        cut = threading.Thread(
            target=cut_after_first_record,
            args=(cutter, broker.bootstrap, fresh_topics.users),
            daemon=True,
        )
        cut.start()
        try:
            result, report = run_cli(
                broker.bootstrap,
                fresh_topics,
                tmp_path,
                "duration_s=12",
                "kafka.producer.message.timeout.ms=3000",
            )
        finally:
            cut.join(CUT_WAIT_S)
            cutter.restore()
        try:
            assert result.exit_code == 1, result.output
            failed = sum(t["failed"] for t in report["topics"].values())
            delivered = sum(t["delivered"] for t in report["topics"].values())
            assert failed > 0 and delivered > 0, report["topics"]
            assert f"FAILED: {failed:,} events could not be delivered" in result.output
            assert "WAITING FOR BROKER" in result.output
            # Errors are logged once per kind in each actor's log, then only counted.
            for actor in report["per_actor"]:
                log = tmp_path / "logs" / f"quickstart-actor-{actor['index']}.log"
                lines = [
                    line
                    for line in log.read_text().splitlines()
                    if "only counted" in line
                ]
                assert len(lines) == len(actor["errors"]), (lines, actor["errors"])
                assert sum(actor["errors"].values()) > len(lines)
            count_check(
                "broker gone > message.timeout.ms",
                broker.bootstrap,
                fresh_topics,
                report,
                f"exit 1; summary named {failed:,} failed",
            )
        finally:
            cutter.close()


def cut_after_first_record(cutter: LinkCutter, bootstrap: str, topic: str) -> None:
    """Cut the link CUT_AFTER_S after the first record of `topic` can be read."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "raysim-cut"})
    deadline = time.monotonic() + CUT_WAIT_S
    try:
        while time.monotonic() < deadline:
            topics = consumer.list_topics(timeout=5).topics
            if topic in topics and topics[topic].partitions:
                consumer.assign(
                    [TopicPartition(topic, p, 0) for p in topics[topic].partitions]
                )
                break
            time.sleep(0.2)
        while time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                break
    finally:
        consumer.close()
    time.sleep(CUT_AFTER_S)
    cutter.cut()


def unreachable_run(bootstrap: str, tmp_path: Path) -> tuple[float, str, int]:
    """Run the CLI against `bootstrap`; every process it starts carries a marker."""
    marker = uuid.uuid4().hex
    env = {**os.environ, MARKER_ENV: marker}
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "raysim",
            "run",
            str(QUICKSTART),
            "--set",
            f"kafka.bootstrap_servers={bootstrap}",
            "--set",
            f"logging.dir={tmp_path / 'logs'}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )
    elapsed = time.monotonic() - started
    left = processes_with(marker)
    assert left == [], f"processes left behind: {left}"
    return elapsed, done.stderr, done.returncode


@pytest.mark.parametrize(
    "bootstrap",
    [f"127.0.0.1:{free_port()}", "kafka.invalid:9092"],
    ids=["closed-port", "unresolvable-name"],
)
def test_unreachable_broker_is_an_error_naming_it_within_10_s(bootstrap, tmp_path):
    elapsed, stderr, code = unreachable_run(bootstrap, tmp_path)
    assert code == 1, stderr
    assert f"BrokerUnreachable: Kafka at {bootstrap} is not reachable" in stderr
    assert "Traceback" not in stderr
    assert elapsed < UNREACHABLE_LIMIT_S, elapsed
    record_figures(
        Figures(
            fault=f"broker unreachable at start ({bootstrap.split(':')[0]})",
            produced=0,
            delivered=0,
            failed=0,
            consumed=0,
            duplicates=0,
            outcome=f"exit 1 after {elapsed:.1f} s naming the address; no process left",
        )
    )
