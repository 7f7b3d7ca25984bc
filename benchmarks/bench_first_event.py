"""Time from `raysim run` to the first delivered event, as a consumer sees it.

A consumer is assigned every partition of the run's five topics before the command
starts; the clock runs from starting `raysim run configs/quickstart.yaml` (pointed at a
broker on loopback) to the first message the consumer reads back.

    python benchmarks/bench_first_event.py
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    QUICKSTART_PATH,
    broker,
    machine,
    print_table,
    topic_names,
    write_json,
)
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from raysim.sinks.admin import ensure_topics

PARTITIONS = 6
TIMEOUT_S = 60.0
RUN_S = 10


def _raysim_command() -> list[str]:
    """The raysim command next to this Python, on PATH, or `python -m raysim`."""
    found = Path(sys.executable).with_name("raysim")
    if found.exists():
        return [str(found)]
    on_path = shutil.which("raysim")
    return [on_path] if on_path else [sys.executable, "-m", "raysim"]


def run(bootstrap: str) -> dict[str, Any]:
    names = topic_names("first")
    ensure_topics(bootstrap, {}, list(names.values()), PARTITIONS, 1)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"raysim-bench-{time.time_ns()}",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 10,
        }
    )
    consumer.assign(
        [
            TopicPartition(name, p, OFFSET_BEGINNING)
            for name in names.values()
            for p in range(PARTITIONS)
        ]
    )
    consumer.poll(0.5)  # connected and fetching before the clock starts
    logs = tempfile.mkdtemp(prefix="raysim-bench-first-")
    command = [
        *_raysim_command(),
        "run",
        str(QUICKSTART_PATH),
        "--set", f"kafka.bootstrap_servers={bootstrap}",
        "--set", f"duration_s={RUN_S}",
        "--set", f"logging.dir={logs}",
        *(arg for k, v in names.items() for arg in ("--set", f"kafka.topics.{k}={v}")),
    ]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    first_s = None
    try:
        while time.perf_counter() - started < TIMEOUT_S:
            message = consumer.poll(0.01)
            if message is not None and message.error() is None:
                first_s = time.perf_counter() - started
                break
            if process.poll() is not None:
                break
        _, errors = process.communicate(timeout=RUN_S + 60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        consumer.close()
    return {
        "first_event_s": round(first_s, 3) if first_s is not None else None,
        "first_event_exit_code": process.returncode,
        "first_event_note": "" if first_s is not None else (errors or "")[-300:],
    }


def rows(result: dict[str, Any]) -> list[tuple[str, Any, str]]:
    return [
        (
            "first_event_s",
            result["first_event_s"],
            f"raysim run exit {result['first_event_exit_code']}; target <= 8 s "
            + result["first_event_note"],
        )
    ]


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    with broker() as bootstrap:
        result = run(bootstrap)
    print_table("Start-up", rows(result))
    write_json("first_event", {**result, "machine": machine()})


if __name__ == "__main__":
    main()
