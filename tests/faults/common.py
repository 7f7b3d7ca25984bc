"""What every fault test shares: its own broker, a link to cut, the count check.

Every fault test ends with `count_check`: for every topic produced = delivered + failed,
what a consumer reads back equals delivered, and no event_id appears twice. When
RAYSIM_FAULT_FIGURES names a file, each check appends its figures to it as a JSON line;
`tests/faults/table.py` turns those lines into the table of docs/reliability.md.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psutil

from raysim.config import TOPIC_KEYS, TopicsConfig
from raysim.verify import Record, read_topics

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "configs" / "quickstart.yaml"
FIGURES_ENV = "RAYSIM_FAULT_FIGURES"


class LinkCutter:
    """A TCP relay on 127.0.0.1 in front of a broker; its link can be cut and restored.

    Cutting stops forwarding requests at once, keeps relaying the broker's answers to
    requests it already received for `grace_s`, then drops every connection and refuses
    new ones until `restore()`. So a request either reached the broker and its answer
    reached the client, or it never reached the broker: what a consumer reads back
    afterwards is exactly what the producer saw acknowledged.
    """

    def __init__(self, listen_port: int, grace_s: float = 1.0) -> None:
        self.listen_port = listen_port
        self.target_port: int | None = None
        self.grace_s = grace_s
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", listen_port))
        self._server.settimeout(0.1)
        self._thread = threading.Thread(target=self._accept_forever, daemon=True)

    def start(self, target_port: int) -> LinkCutter:
        self.target_port = target_port
        self._thread.start()
        return self

    def cut(self) -> None:
        self._cut.set()
        pairs = list(self._pairs)

        def drop_later() -> None:
            time.sleep(self.grace_s)
            for client, upstream in pairs:
                for sock in (client, upstream):
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    sock.close()

        threading.Thread(target=drop_later, daemon=True).start()

    def restore(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self._closed.set()
        self.cut()
        self._thread.join(2)
        self._server.close()

    def _accept_forever(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._cut.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(
                target=self._pump, args=(client, upstream, True), daemon=True
            ).start()
            threading.Thread(
                target=self._pump, args=(upstream, client, False), daemon=True
            ).start()

    def _pump(self, source: socket.socket, sink: socket.socket, request: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if request and self._cut.is_set():
                    return  # requests sent after the cut never reach the broker
                sink.sendall(data)
        except OSError:
            pass
        finally:
            if not self._cut.is_set():  # after a cut, drop_later closes both ends
                for sock in (source, sink):
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass


@dataclass
class Figures:
    """One trial of one fault, as it goes in the table."""

    fault: str
    produced: int
    delivered: int
    failed: int
    consumed: int
    duplicates: int
    outcome: str
    extra: dict[str, Any] = field(default_factory=dict)


MARKER_ENV = "RAYSIM_FAULT_MARKER"


def processes_with(marker: str, grace_s: float = 0.0) -> list[int]:
    """PIDs whose environment carries MARKER_ENV=marker `grace_s` after the run.

    A test puts the marker in the environment of the run it starts, so every process
    of that run (Ray's helpers too) carries it. Any still there are ended, by PID.
    """
    deadline = time.monotonic() + grace_s
    while True:
        left = []
        for process in psutil.process_iter(["pid"]):
            try:
                if process.environ().get(MARKER_ENV) == marker:
                    left.append(process)
            except (psutil.Error, OSError):
                continue
        if not left or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    for process in left:  # started by this test; ended by PID
        try:
            process.kill()
        except psutil.Error:
            pass
    return [p.pid for p in left]


def topic_overrides(bootstrap: str, topics: TopicsConfig, log_dir: Path) -> list[str]:
    names = topics.names()
    return [
        f"kafka.bootstrap_servers={bootstrap}",
        f"logging.dir={log_dir}",
        *(f"kafka.topics.{key}={names[key]}" for key in TOPIC_KEYS),
    ]


def totals(report: dict[str, Any]) -> dict[str, int]:
    return {
        key: sum(counts[key] for counts in report["topics"].values())
        for key in ("produced", "delivered", "failed")
    }


def duplicates(records: dict[str, list[Record]]) -> int:
    seen = Counter(r.value.get("event_id") for rows in records.values() for r in rows)
    return sum(n - 1 for n in seen.values() if n > 1)


def count_check(
    fault: str,
    bootstrap: str,
    topics: TopicsConfig,
    report: dict[str, Any],
    outcome: str,
    *,
    exact: bool = True,
    records: dict[str, list[Record]] | None = None,
    **extra: Any,
) -> Figures:
    """The check that ends every fault test; records the trial's figures.

    `exact=False` is for a lost actor, whose last report may predate events it still
    delivered: then what is read back must be at least what the report says.
    """
    records = records if records is not None else read_topics(bootstrap, topics)
    names = topics.names()
    for key, name in names.items():
        counts = report["topics"][name]
        consumed = len(records[key])
        if exact:
            assert counts["produced"] == counts["delivered"] + counts["failed"], (
                name,
                counts,
            )
            if consumed != counts["delivered"]:
                again = len(read_topics(bootstrap, topics)[key])
                raise AssertionError(
                    f"{name}: {counts}, read back {consumed}, read again {again}, "
                    f"broker's offsets {_offsets(bootstrap, name)}, "
                    f"offsets read {_spans(records[key])}"
                )
        else:
            assert consumed >= counts["delivered"], (name, counts, consumed)
    dup = duplicates(records)
    assert dup == 0, f"{dup} event_ids read back twice"
    sums = totals(report)
    figures = Figures(
        fault=fault,
        produced=sums["produced"],
        delivered=sums["delivered"],
        failed=sums["failed"],
        consumed=sum(len(rows) for rows in records.values()),
        duplicates=dup,
        outcome=outcome,
        extra=extra,
    )
    record_figures(figures)
    return figures


def record_figures(figures: Figures) -> None:
    path = os.environ.get(FIGURES_ENV)
    if not path:
        return
    with open(path, "ab") as out:
        out.write(orjson.dumps(figures.__dict__) + b"\n")


def overlapping_sessions(records: dict[str, list[Record]]) -> list[str]:
    """Users with two sessions at once, judged on every event that landed.

    A session's span runs from its first to its last event read back (behaviours,
    marketings, orders and its sessions record), so a session cut short by a lost
    actor, whose sessions record never came, still counts with what it sent.
    """
    spans: dict[str, list[float]] = {}
    user_of: dict[str, str] = {}
    for key in ("marketings", "behaviours", "orders", "sessions"):
        for record in records.get(key, []):
            value = record.value
            session = value.get("session_id")
            if session is None:
                continue
            user_of[session] = value["user_id"]
            moments = [record.timestamp_ms / 1000]
            if key == "sessions":
                moments.append(_seconds(value["started_at"]))
            span = spans.setdefault(session, [min(moments), max(moments)])
            span[0] = min(span[0], *moments)
            span[1] = max(span[1], *moments)
    by_user: dict[str, list[tuple[float, float, str]]] = {}
    for session, (start, end) in spans.items():
        by_user.setdefault(user_of[session], []).append((start, end, session))
    clashes = []
    for user, sessions in by_user.items():
        sessions.sort()
        for (_, end, first), (start, _, second) in zip(
            sessions, sessions[1:], strict=False
        ):
            if start < end:
                clashes.append(f"user {user}: session {second} starts inside {first}")
    return clashes


def _seconds(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _spans(records: list[Record]) -> dict[int, list[tuple[int, int]]]:
    """The runs of consecutive offsets read from each partition: shows any hole."""
    spans: dict[int, list[tuple[int, int]]] = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        runs = spans.setdefault(record.partition, [])
        if runs and runs[-1][1] == record.offset - 1:
            runs[-1] = (runs[-1][0], record.offset)
        else:
            runs.append((record.offset, record.offset))
    return spans


def _offsets(bootstrap: str, name: str) -> dict[int, tuple[int, int]]:
    """Low and high watermark of each partition of topic `name`, as the broker says."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "raysim-offsets"})
    try:
        partitions = consumer.list_topics(name, timeout=10).topics[name].partitions
        return {
            p: consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)
            for p in partitions
        }
    finally:
        consumer.close()
