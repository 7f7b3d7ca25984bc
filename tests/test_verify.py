from __future__ import annotations

import sys
import types
from datetime import datetime, timezone

import orjson
import pytest
from confluent_kafka import Producer

from raysim.config import TopicsConfig
from raysim.sinks.admin import LibrdkafkaLog, ensure_topics
from raysim.verify import Record, read_topics, verify

BASE_MS = 1_796_405_372_123  # 2026-12-04T17:29:32.123Z

pytestmark = pytest.mark.kafka


def _event_time(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _record(n: int, user: str) -> dict:
    return {
        "event_id": f"e-{n}",
        "event_time": _event_time(BASE_MS + n),
        "schema_version": 1,
        "user_id": user,
        "n": n,
    }


def _produce(bootstrap: str, messages: list[tuple[str, str | None, int, dict]]) -> None:
    """Produce (topic, key, timestamp_ms, value) tuples and wait for every delivery."""
    failures: list[str] = []

    def on_delivery(err: object, msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "compression.type": "lz4",
            "logger": LibrdkafkaLog(),
        }
    )
    for topic, key, timestamp_ms, value in messages:
        producer.produce(
            topic,
            value=orjson.dumps(value),
            key=key,
            timestamp=timestamp_ms,
            on_delivery=on_delivery,
        )
    assert producer.flush(30) == 0
    assert failures == []


def _create(bootstrap: str, topics: TopicsConfig) -> None:
    ensure_topics(bootstrap, {}, list(topics.names().values()), 3, 1)


def test_event_time_helper_matches_contract_example() -> None:
    assert _event_time(BASE_MS) == "2026-12-04T17:29:32.123Z"


def test_read_topics_returns_exactly_what_was_produced(
    broker: str, fresh_topics: TopicsConfig
) -> None:
    _create(broker, fresh_topics)
    sent = {
        "users": [_record(n, f"u{n % 7}") for n in range(2500)],
        "orders": [_record(10_000 + n, f"u{n % 3}") for n in range(15)],
    }
    _produce(
        broker,
        [
            (
                getattr(fresh_topics, logical),
                value["user_id"],
                BASE_MS + value["n"],
                value,
            )
            for logical, values in sent.items()
            for value in values
        ],
    )

    found = read_topics(broker, fresh_topics, timeout_s=30)

    assert {logical: len(records) for logical, records in found.items()} == {
        "users": 2500,
        "marketings": 0,
        "sessions": 0,
        "orders": 15,
        "behaviours": 0,
    }
    for logical, values in sent.items():
        records = found[logical]
        assert sorted(r.value["n"] for r in records) == [v["n"] for v in values]
        for record in records:
            assert isinstance(record, Record)
            assert record.topic == getattr(fresh_topics, logical)
            assert record.key == record.value["user_id"]
            assert record.timestamp_ms == BASE_MS + record.value["n"]
            assert record.value == _record(record.value["n"], record.value["user_id"])
        # one user's records keep their order inside a partition
        for user in {v["user_id"] for v in values}:
            mine = [r.value["n"] for r in records if r.key == user]
            assert mine == sorted(mine)
            assert len({r.partition for r in records if r.key == user}) == 1


def test_read_topics_missing_topics_read_as_empty(
    broker: str, fresh_topics: TopicsConfig
) -> None:
    found = read_topics(broker, fresh_topics, timeout_s=10)
    assert found == {logical: [] for logical in fresh_topics.names()}


def test_verify_clean_topics_are_ok(broker: str, fresh_topics: TopicsConfig) -> None:
    _create(broker, fresh_topics)
    values = [_record(n, f"u{n}") for n in range(10)]
    _produce(
        broker,
        [(fresh_topics.users, v["user_id"], BASE_MS + v["n"], v) for v in values],
    )

    report = verify(broker, fresh_topics, expected={"users": 10}, invariants=False)

    assert report.ok, report.problems
    assert report.counts["users"] == 10
    assert report.as_dict() == {
        "ok": True,
        "counts": {
            "users": 10,
            "marketings": 0,
            "sessions": 0,
            "orders": 0,
            "behaviours": 0,
        },
        "problems": [],
    }


def test_verify_finds_duplicates_key_and_time_mismatches(
    broker: str, fresh_topics: TopicsConfig
) -> None:
    _create(broker, fresh_topics)
    good = _record(1, "u1")
    wrong_key = _record(2, "u2")
    wrong_time = _record(3, "u3")
    _produce(
        broker,
        [
            (fresh_topics.users, "u1", BASE_MS + 1, good),
            (fresh_topics.sessions, "u1", BASE_MS + 1, good),  # same event_id again
            (fresh_topics.orders, "somebody-else", BASE_MS + 2, wrong_key),
            (fresh_topics.orders, None, BASE_MS + 4, _record(4, "u4")),
            (fresh_topics.behaviours, "u3", BASE_MS + 999, wrong_time),
        ],
    )

    report = verify(broker, fresh_topics, expected={"users": 2}, invariants=False)

    assert not report.ok
    text = "\n".join(report.problems)
    assert "users: expected 2 records, found 1." in text
    assert "event_id 'e-1' at " + fresh_topics.sessions in text
    assert "key 'somebody-else' differs from user_id 'u2'" in text
    assert "key None differs from user_id 'u4'" in text
    assert f"timestamp {BASE_MS + 999} ms differs from event_time" in text
    assert len(report.problems) == 5


def test_verify_caps_examples_per_kind(broker: str, fresh_topics: TopicsConfig) -> None:
    _create(broker, fresh_topics)
    values = [_record(n, f"u{n}") for n in range(30)]
    _produce(broker, [(fresh_topics.orders, "x", BASE_MS + v["n"], v) for v in values])

    report = verify(broker, fresh_topics, invariants=False)

    assert len(report.problems) == 21
    assert report.problems[-1] == "... and 10 more key mismatches."


def test_verify_adds_model_invariants(
    broker: str, fresh_topics: TopicsConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    _create(broker, fresh_topics)
    value = _record(1, "u1")
    _produce(broker, [(fresh_topics.orders, "u1", BASE_MS + 1, value)])
    seen: list[dict] = []

    def check_invariants(records: dict[str, list[dict]]) -> list[str]:
        seen.append(records)
        return ["order o-1 has no session."]

    fake = types.ModuleType("raysim.model.invariants")
    fake.check_invariants = check_invariants  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "raysim.model.invariants", fake)

    report = verify(broker, fresh_topics)

    assert report.problems == ["order o-1 has no session."]
    assert seen == [
        {
            "users": [],
            "marketings": [],
            "sessions": [],
            "orders": [value],
            "behaviours": [],
        }
    ]


def test_verify_empty_topics_pass_model_invariants(
    broker: str, fresh_topics: TopicsConfig
) -> None:
    report = verify(broker, fresh_topics, expected={"orders": 0})
    assert report.ok, report.problems
    assert report.counts == {logical: 0 for logical in fresh_topics.names()}
