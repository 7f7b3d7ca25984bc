"""Reads what landed in Kafka back and checks it against the event contract.

Reading uses partition assignment only (no consumer group), so it never joins or
disturbs a group and never waits for a rebalance.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, TopicPartition

from raysim.config import TopicsConfig
from raysim.errors import SinkError
from raysim.sinks.admin import client_config

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000
POLL_S = 0.1
SETTLE_S = 1.0
FETCH_WAIT_MS = 50  # how long a broker may hold an empty fetch; EOF comes after it
METADATA_TIMEOUT_S = 10.0
MAX_EXAMPLES = 20  # problems listed per kind; the rest are counted

__all__ = ["Record", "VerifyReport", "read_topics", "verify"]


@dataclass(frozen=True)
class Record:
    """One Kafka message as read back, its JSON value parsed."""

    topic: str
    partition: int
    offset: int
    key: str | None
    timestamp_ms: int
    value: dict[str, Any]

    @property
    def where(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


@dataclass
class VerifyReport:
    """What verify() found: records per logical topic and every problem."""

    counts: dict[str, int]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "counts": dict(self.counts),
            "problems": list(self.problems),
        }


def read_topics(
    bootstrap: str,
    topics: TopicsConfig,
    client_conf: Mapping[str, Any] | None = None,
    timeout_s: float = 60,
) -> dict[str, list[Record]]:
    """Every record of every configured topic, by logical topic, in partition order.

    Topics that do not exist read as empty. Raises SinkError if the end of every
    partition is not reached within `timeout_s`.
    """
    names = topics.names()
    result: dict[str, list[Record]] = {logical: [] for logical in names}
    logical_of = {name: logical for logical, name in names.items()}
    conf = client_config(bootstrap, client_conf)
    conf.update(
        {
            "group.id": f"raysim-verify-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": FETCH_WAIT_MS,
        }
    )
    consumer = Consumer(conf)
    try:
        # NOTE: one metadata request for all topics; asking for a topic by name may
        # create it on brokers with auto-creation on.
        metadata = consumer.list_topics(timeout=min(METADATA_TIMEOUT_S, timeout_s))
        # NOTE: offset 0, not OFFSET_BEGINNING: Tansu has answered a request for the
        # earliest offset with an offset past records it still serves. Where offset 0
        # is gone (retention), auto.offset.reset moves the read to the earliest.
        assignment = [
            TopicPartition(name, partition, 0)
            for name in logical_of
            if name in metadata.topics and metadata.topics[name].error is None
            for partition in sorted(metadata.topics[name].partitions)
        ]
        if not assignment:
            return result
        consumer.assign(assignment)
        pending = {(tp.topic, tp.partition) for tp in assignment}
        deadline = time.monotonic() + timeout_s
        # NOTE: an end-of-partition can come before a record the broker already
        # confirmed (seen with Tansu), so every end is only final after SETTLE_S with
        # nothing new; a record after an end puts its partition back in `pending`.
        quiet_since = time.monotonic()
        while pending or time.monotonic() - quiet_since < SETTLE_S:
            if time.monotonic() > deadline:
                left = ", ".join(f"{t}[{p}]" for t, p in sorted(pending))
                raise SinkError(
                    f"Reading Kafka at {bootstrap} did not reach the end of {left} "
                    f"within {timeout_s:g} s."
                )
            for message in consumer.consume(BATCH_SIZE, timeout=POLL_S):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        pending.discard((message.topic(), message.partition()))
                        continue
                    raise SinkError(
                        f"Reading {message.topic()}[{message.partition()}] from Kafka "
                        f"at {bootstrap} failed: {error.str()}"
                    )
                record = _record(message)
                result[logical_of[record.topic]].append(record)
                pending.add((record.topic, record.partition))
                quiet_since = time.monotonic()
    finally:
        consumer.close()
    return result


def _record(message: Any) -> Record:
    raw_key = message.key()
    _, timestamp_ms = message.timestamp()
    where = f"{message.topic()}[{message.partition()}]@{message.offset()}"
    try:
        value = orjson.loads(message.value())
    except orjson.JSONDecodeError as exc:
        raise SinkError(f"Record {where} is not JSON: {exc}.") from exc
    if not isinstance(value, dict):
        raise SinkError(
            f"Record {where} must be a JSON object, got {type(value).__name__}."
        )
    return Record(
        topic=message.topic(),
        partition=message.partition(),
        offset=message.offset(),
        key=None if raw_key is None else raw_key.decode("utf-8", "replace"),
        timestamp_ms=timestamp_ms,
        value=value,
    )


def _event_time_ms(text: Any) -> int | None:
    if not isinstance(text, str) or not text.endswith("Z"):
        return None
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00")
    except ValueError:
        return None
    return round(moment.timestamp() * 1000)


class _Problems:
    """Problems grouped by kind, each kind capped at MAX_EXAMPLES lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._seen: Counter[str] = Counter()

    def add(self, kind: str, line: str) -> None:
        self._seen[kind] += 1
        if self._seen[kind] <= MAX_EXAMPLES:
            self.lines.append(line)

    def finish(self) -> list[str]:
        for kind, seen in self._seen.items():
            if seen > MAX_EXAMPLES:
                self.lines.append(f"... and {seen - MAX_EXAMPLES} more {kind}.")
        return self.lines


def verify(
    bootstrap: str,
    topics: TopicsConfig,
    client_conf: Mapping[str, Any] | None = None,
    expected: Mapping[str, int] | None = None,
    *,
    timeout_s: float = 60,
    invariants: bool = True,
) -> VerifyReport:
    """Read every topic back and check counts, ids, keys, timestamps and, unless
    `invariants` is False, the model's invariants (model.invariants)."""
    records = read_topics(bootstrap, topics, client_conf, timeout_s)
    counts = {logical: len(found) for logical, found in records.items()}
    problems = _Problems()
    for logical, want in (expected or {}).items():
        got = counts.get(logical, 0)
        if got != want:
            problems.add(
                "count mismatches",
                f"{logical}: expected {want} records, found {got}.",
            )
    first_seen: dict[Any, Record] = {}
    for found in records.values():
        for record in found:
            value = record.value
            event_id = value.get("event_id")
            if event_id is None:
                problems.add(
                    "records without event_id", f"{record.where} has no event_id."
                )
            elif event_id in first_seen:
                problems.add(
                    "duplicate event_ids",
                    f"event_id {event_id!r} at {record.where} repeats "
                    f"{first_seen[event_id].where}.",
                )
            else:
                first_seen[event_id] = record
            user_id = value.get("user_id")
            if record.key != user_id:
                problems.add(
                    "key mismatches",
                    f"{record.where}: key {record.key!r} differs from user_id "
                    f"{user_id!r}.",
                )
            event_ms = _event_time_ms(value.get("event_time"))
            if event_ms is None:
                problems.add(
                    "bad event_times",
                    f"{record.where}: event_time {value.get('event_time')!r} is not "
                    "UTC ISO 8601 ending in Z.",
                )
            elif event_ms != record.timestamp_ms:
                problems.add(
                    "timestamp mismatches",
                    f"{record.where}: timestamp {record.timestamp_ms} ms differs from "
                    f"event_time {value['event_time']} ({event_ms} ms).",
                )
    lines = problems.finish()
    if invariants:
        from raysim.model.invariants import check_invariants

        lines.extend(
            check_invariants(
                {
                    logical: [r.value for r in found]
                    for logical, found in records.items()
                }
            )
        )
    report = VerifyReport(counts=counts, problems=lines)
    logger.info(
        "verified %d records on %s: %d problem(s)",
        sum(counts.values()),
        bootstrap,
        len(lines),
    )
    return report
