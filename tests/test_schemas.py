"""The JSON Schemas shipped in raysim/schemas describe the records exactly."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import jsonschema
import pytest

import raysim.model
from raysim.config import TOPIC_KEYS, CatalogConfig, Range, StoreConfig, UsersConfig
from raysim.model import SAMPLE_USERS_PATH, Journey, load_catalog, load_users

SCHEMA_DIR = Path(raysim.model.__file__).resolve().parent.parent / "schemas"
START_S = 1_780_000_000.0


def validator(topic: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / f"{topic}.schema.json").read_text())
    return jsonschema.Draft202012Validator(schema)


def generated(store: StoreConfig, sessions: int) -> dict[str, list[dict]]:
    journey = Journey(store, load_catalog(CatalogConfig(), 0), Range(60.0, 900.0), 2)
    users = load_users(UsersConfig(path=SAMPLE_USERS_PATH), 0).records
    records: dict[str, list[dict]] = defaultdict(list)
    for user in users:
        records["users"].append(journey.user_record(user, START_S)[2])
    for number in range(sessions):
        user = users[number % len(users)]
        for _, topic, record in journey.session(user, number + 1, START_S):
            records[topic].append(record)
    return records


@pytest.mark.parametrize("topic", TOPIC_KEYS)
def test_schema_is_valid_draft_2020_12(topic: str) -> None:
    schema = json.loads((SCHEMA_DIR / f"{topic}.schema.json").read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is (topic == "users")


@pytest.mark.parametrize(
    "store",
    [
        StoreConfig(),
        StoreConfig(add_to_cart_rate=1.0, checkout_rate=0.7, purchase_rate=0.7),
    ],
    ids=["default", "buying"],
)
def test_every_record_validates_against_its_schema(store: StoreConfig) -> None:
    records = generated(store, 600)
    for topic in TOPIC_KEYS:
        assert records[topic], topic
        check = validator(topic)
        for record in records[topic]:
            errors = list(check.iter_errors(record))
            assert not errors, (topic, record, [e.message for e in errors])


def test_every_record_property_is_described() -> None:
    records = generated(StoreConfig(add_to_cart_rate=1.0, purchase_rate=1.0), 500)
    for topic in ("marketings", "sessions", "orders", "behaviours"):
        schema = json.loads((SCHEMA_DIR / f"{topic}.schema.json").read_text())
        used = {key for record in records[topic] for key in record}
        assert used == set(schema["properties"]), topic


def test_schemas_reject_what_the_records_must_not_be() -> None:
    records = generated(StoreConfig(add_to_cart_rate=1.0, purchase_rate=1.0), 200)
    purchase = next(r for r in records["behaviours"] if r["event_name"] == "purchase")
    page_view = next(r for r in records["behaviours"] if r["event_name"] == "page_view")
    order = records["orders"][0]
    behaviours = validator("behaviours")
    assert not behaviours.is_valid(
        {k: v for k, v in purchase.items() if k != "order_id"}
    )
    assert not behaviours.is_valid({**page_view, "order_id": "o1"})
    assert not behaviours.is_valid({**page_view, "colour": "red"})
    assert not behaviours.is_valid({**page_view, "event_time": "2026-05-28T20:26:40Z"})
    assert not behaviours.is_valid({**page_view, "event_name": "click"})
    assert not validator("orders").is_valid({**order, "total": -1.0})
    assert not validator("orders").is_valid({**order, "currency": "usd"})
    assert not validator("sessions").is_valid({**records["sessions"][0], "user_id": 7})
    assert validator("users").is_valid({**records["users"][0], "anything": [1, 2]})
    assert not validator("users").is_valid({"event_id": "e", "user_id": "u"})
