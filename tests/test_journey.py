"""Tests for raysim.model.journey and timefmt: determinism, shape, rates, money."""

from __future__ import annotations

import collections
import os
import re
import time
from collections.abc import Iterator

import pytest

from raysim.config import CatalogConfig, Range, StoreConfig, UsersConfig
from raysim.model import SAMPLE_PRODUCTS_PATH, Journey, check_invariants, format_time
from raysim.model.catalog import Catalog, Product, load_catalog
from raysim.model.journey import Event
from raysim.model.users import load_users

START_S = 1_780_000_000.0  # 2026-05-28T20:26:40Z
UUID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\Z"
)
USER = {"user_id": "u1", "firstName": "Ana"}


def make_journey(seed: int = 0, store: StoreConfig | None = None) -> Journey:
    catalog = load_catalog(CatalogConfig(), seed)
    return Journey(store or StoreConfig(), catalog, Range(60.0, 900.0), seed)


def sessions_of(
    journey: Journey, count: int, users: int = 500
) -> Iterator[list[Event]]:
    """count sessions spread over `users` generated users, each user's back to back."""
    records = load_users(UsersConfig(generate=users), seed=0).records
    ends = [START_S] * users
    for number in range(count):
        index = number % users
        events = journey.session(records[index], number // users + 1, ends[index] + 30)
        ends[index] = events[-1][0]
        yield events


def by_name(events: list[Event]) -> collections.Counter[str]:
    return collections.Counter(r.get("event_name") for _, _, r in events)


def test_session_is_deterministic_for_the_same_inputs() -> None:
    first = make_journey(seed=7).session(USER, 3, START_S)
    again = make_journey(seed=7).session(USER, 3, START_S)
    assert first == again


def test_session_differs_with_seed_session_number_or_user() -> None:
    journey = make_journey(seed=7)
    base = journey.session(USER, 1, START_S)
    ids = {r["event_id"] for _, _, r in base}
    for other in (
        make_journey(seed=8).session(USER, 1, START_S),
        journey.session(USER, 2, START_S),
        journey.session({"user_id": "u2"}, 1, START_S),
    ):
        assert other != base
        assert not ids & {r["event_id"] for _, _, r in other}


def test_session_emits_marketing_behaviours_and_session_in_order() -> None:
    journey = make_journey()
    for events in sessions_of(journey, 300):
        topics = [topic for _, topic, _ in events]
        assert topics[0] == "marketings" and topics[-1] == "sessions"
        assert set(topics[1:-1]) <= {"behaviours", "orders"}
        times = [t for t, _, _ in events]
        assert times == sorted(times)
        start_s, end_s = times[0], times[-1]
        marketing, summary = events[0][2], events[-1][2]
        assert summary["started_at"] == marketing["event_time"] == format_time(start_s)
        assert summary["ended_at"] == summary["event_time"] == format_time(end_s)
        assert 60.0 <= summary["duration_s"] <= 900.0
        behaviours = [r for _, topic, r in events if topic == "behaviours"]
        assert [r["sequence_number"] for r in behaviours] == list(
            range(1, len(behaviours) + 1)
        )
        assert behaviours[0]["event_name"] == "page_view"
        assert (
            behaviours[0]["page"]
            == marketing["landing_page"]
            == summary["landing_page"]
        )
        assert summary["events"] == len(behaviours)
        assert summary["page_views"] == by_name(events)["page_view"]
        for time_s, _, record in events:
            assert record["event_time"] == format_time(time_s)
            assert record["schema_version"] == 1
            assert isinstance(record["user_id"], str)
            assert UUID.match(record["event_id"])
        for index, (_, topic, record) in enumerate(events):
            if topic == "orders":
                before = events[index - 1]
                assert before[2]["event_name"] == "purchase"
                assert before[0] == events[index][0]
                assert before[2]["order_id"] == record["order_id"]
                assert (
                    summary["converted"] and summary["order_id"] == record["order_id"]
                )


def test_sessions_keep_the_invariants_over_many_users() -> None:
    journey = make_journey(seed=11)
    records: dict[str, list[dict]] = collections.defaultdict(list)
    users = load_users(UsersConfig(generate=500), seed=0).records
    records["users"] = [journey.user_record(user, START_S)[2] for user in users]
    for events in sessions_of(journey, 5000):
        for _, topic, record in events:
            records[topic].append(record)
    assert len(records["orders"]) > 50
    assert check_invariants(records) == []


def test_default_rates_look_like_a_real_store() -> None:
    journey = make_journey(seed=5)
    sessions = carts = checkouts = purchases = 0
    channels: collections.Counter[str] = collections.Counter()
    devices: collections.Counter[str] = collections.Counter()
    for events in sessions_of(journey, 20_000, users=2000):
        names = by_name(events)
        sessions += 1
        carts += names["add_to_cart"] > 0
        checkouts += names["begin_checkout"] > 0
        purchases += names["purchase"] > 0
        assert names["purchase"] <= 1
        channels[events[0][2]["channel"]] += 1
        devices[events[-1][2]["device"]] += 1
    print(
        f"\nadd-to-cart {carts / sessions:.3f}, checkout/cart {checkouts / carts:.3f}, "
        f"conversion {purchases / sessions:.4f}, abandoned {1 - purchases / carts:.3f}"
    )
    assert 0.10 <= carts / sessions <= 0.13
    assert 0.02 <= purchases / sessions <= 0.04
    assert 0.60 <= 1 - purchases / carts <= 0.80
    for name, share in StoreConfig().channels.items():
        assert abs(channels[name] / sessions - share) < 0.015, name
    for name, share in StoreConfig().devices.items():
        assert abs(devices[name] / sessions - share) < 0.015, name


def test_rates_follow_the_store_config() -> None:
    store = StoreConfig(add_to_cart_rate=0.5, checkout_rate=1.0, purchase_rate=1.0)
    journey = make_journey(store=store)
    bought = sum(by_name(events)["purchase"] for events in sessions_of(journey, 2000))
    assert 0.45 <= bought / 2000 <= 0.55


def test_attribution_matches_the_channel() -> None:
    journey = make_journey()
    seen: dict[str, set[tuple[str, str, bool]]] = collections.defaultdict(set)
    for events in sessions_of(journey, 3000):
        m = events[0][2]
        seen[m["channel"]].add((m["source"], m["medium"], m["campaign"] is not None))
        assert m["touchpoint_id"] != m["session_id"]
    assert seen["direct"] == {("(direct)", "(none)", False)}
    assert {medium for _, medium, _ in seen["paid_search"]} == {"cpc"}
    assert all(has_campaign for _, _, has_campaign in seen["paid_search"])
    assert {source for source, _, _ in seen["paid_search"]} <= {"google", "bing"}
    assert {medium for _, medium, _ in seen["organic_search"]} == {"organic"}
    assert not any(has_campaign for _, _, has_campaign in seen["organic_search"])
    assert {medium for _, medium, _ in seen["email"]} == {"email"}


def test_orders_add_up_in_cents() -> None:
    store = StoreConfig(add_to_cart_rate=1.0, checkout_rate=1.0, purchase_rate=1.0)
    journey = make_journey(store=store)
    free = paid = 0
    for events in sessions_of(journey, 500):
        order = next(r for _, topic, r in events if topic == "orders")
        purchase = next(r for _, _, r in events if r.get("event_name") == "purchase")
        assert 1 <= len(order["items"]) <= 3
        lines = 0
        for item in order["items"]:
            assert 1 <= item["quantity"] <= 3
            assert round(item["price"] * 100) * item["quantity"] == round(
                item["line_total"] * 100
            )
            lines += round(item["line_total"] * 100)
        subtotal = round(order["subtotal"] * 100)
        assert lines == subtotal
        shipping = round(order["shipping"] * 100)
        assert shipping == (0 if subtotal >= 5000 else 499)
        free += shipping == 0
        paid += shipping > 0
        assert round(order["tax"] * 100) == int(subtotal * 0.08 + 0.5)
        assert order["total"] == round(
            order["subtotal"] + order["shipping"] + order["tax"], 2
        )
        for key in ("subtotal", "shipping", "tax", "total"):
            assert order[key] == round(order[key], 2) >= 0
        assert purchase["value"] == order["total"]
        assert order["currency"] == purchase["currency"] == "USD"
        assert len({item["item_id"] for item in order["items"]}) == len(order["items"])
    assert free and paid


def test_cart_items_mostly_share_the_viewed_category() -> None:
    store = StoreConfig(add_to_cart_rate=1.0, checkout_rate=1.0, purchase_rate=1.0)
    catalog = load_catalog(CatalogConfig(path=SAMPLE_PRODUCTS_PATH), 0)
    journey = Journey(store, catalog, Range(60.0, 600.0), 0)
    same = pairs = 0
    for events in sessions_of(journey, 2000):
        order = next(r for _, topic, r in events if topic == "orders")
        first = order["items"][0]["category"]
        for item in order["items"][1:]:
            pairs += 1
            same += item["category"] == first
    assert pairs > 100 and same / pairs > 0.6


def test_popular_products_sell_more() -> None:
    store = StoreConfig(add_to_cart_rate=1.0, checkout_rate=1.0, purchase_rate=1.0)
    journey = make_journey(store=store)
    sold: collections.Counter[str] = collections.Counter()
    for events in sessions_of(journey, 3000):
        for _, topic, record in events:
            if topic == "orders":
                sold.update(item["item_id"] for item in record["items"])
    counts = sorted(sold.values(), reverse=True)
    assert counts[0] > 10 * counts[len(counts) // 2]


def test_session_stays_inside_a_fixed_duration() -> None:
    catalog = Catalog((Product("1", "Mug", "kitchen", "", 3.0),), "test")
    journey = Journey(StoreConfig(add_to_cart_rate=1.0), catalog, Range(5.0, 5.0), 0)
    events = journey.session(USER, 1, START_S)
    assert events[-1][0] == START_S + 5.0
    assert all(START_S <= t <= START_S + 5.0 for t, _, _ in events)


def test_journey_rejects_an_empty_catalog_or_bad_range() -> None:
    catalog = Catalog((), "empty")
    with pytest.raises(ValueError, match="at least one product"):
        Journey(StoreConfig(), catalog, Range(1.0, 2.0), 0)
    with pytest.raises(ValueError, match="0 <= min <= max, got 5.0..1.0"):
        Journey(StoreConfig(), load_catalog(CatalogConfig(), 0), Range(5.0, 1.0), 0)


def test_user_record_carries_the_user_fields() -> None:
    journey = make_journey()
    user = {"user_id": "42", "name": "Ana", "address": {"city": "Lyon"}}
    time_s, topic, record = journey.user_record(user, START_S + 0.25)
    assert (time_s, topic) == (START_S + 0.25, "users")
    assert list(record)[:4] == ["event_id", "event_time", "schema_version", "user_id"]
    assert record["event_time"] == "2026-05-28T20:26:40.250Z"
    assert record["address"] == {"city": "Lyon"} and record["name"] == "Ana"
    assert journey.user_record(user, START_S + 0.25) == (time_s, topic, record)


def test_format_time_is_utc_with_milliseconds() -> None:
    assert format_time(0) == "1970-01-01T00:00:00.000Z"
    assert format_time(START_S) == "2026-05-28T20:26:40.000Z"
    assert format_time(START_S + 0.1239) == "2026-05-28T20:26:40.123Z"
    assert format_time(1_798_761_599.9999) == "2026-12-31T23:59:59.999Z"
    assert format_time(951_782_400.5) == "2000-02-29T00:00:00.500Z"
    for ts in (START_S + 0.001 * n for n in range(0, 5000, 7)):
        assert format_time(ts)[-4:-1] == f"{int(ts * 1000) % 1000:03d}"


def test_format_time_ignores_the_local_time_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expected = format_time(START_S + 3600.5)
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        assert format_time(START_S + 3600.5) == expected
        assert format_time(START_S + 7200.75) == "2026-05-28T22:26:40.750Z"
    finally:
        monkeypatch.undo()
        time.tzset()
    assert os.environ.get("TZ") != "Asia/Kolkata"


def test_session_speed_report() -> None:
    journey = make_journey()
    users = load_users(UsersConfig(generate=1000), seed=0).records
    started = time.perf_counter()
    count = sum(len(journey.session(users[n % 1000], n, START_S)) for n in range(5000))
    elapsed = time.perf_counter() - started
    print(f"\n{elapsed / count * 1e6:.1f} us per event over {count} events")
    assert count > 5000
