"""Tests for raysim.model.invariants: clean runs pass, each broken rule is reported."""

from __future__ import annotations

from collections import defaultdict

from raysim.config import CatalogConfig, Range, StoreConfig
from raysim.model import Journey, check_invariants, load_catalog
from raysim.model.invariants import MAX_VIOLATIONS

START_S = 1_780_000_000.0
BUYING = StoreConfig(add_to_cart_rate=1.0, checkout_rate=1.0, purchase_rate=0.5)


def dataset() -> dict[str, list[dict]]:
    """Three users with three back-to-back sessions each; about half buy."""
    journey = Journey(BUYING, load_catalog(CatalogConfig(), 0), Range(60.0, 600.0), 1)
    records: dict[str, list[dict]] = defaultdict(list)
    for user_number in range(3):
        user = {"user_id": f"u{user_number}", "name": "x"}
        start_s = START_S + user_number
        records["users"].append(journey.user_record(user, start_s)[2])
        for session_number in range(1, 4):
            events = journey.session(user, session_number, start_s)
            for _, topic, record in events:
                records[topic].append(record)
            start_s = events[-1][0] + 10
    assert records["orders"], "the dataset needs at least one order"
    assert len(records["orders"]) < len(records["sessions"])
    return dict(records)


def first(records: list[dict], **match: object) -> dict:
    return next(r for r in records if all(r.get(k) == v for k, v in match.items()))


def assert_violation(records: dict[str, list[dict]], pattern: str) -> None:
    violations = check_invariants(records)
    assert violations, "expected a violation"
    assert any(pattern in line for line in violations), violations


def test_check_invariants_passes_a_clean_run() -> None:
    assert check_invariants(dataset()) == []


def test_check_invariants_accepts_no_records() -> None:
    assert check_invariants({}) == []


def test_check_invariants_reports_a_missing_user_id() -> None:
    records = dataset()
    del records["behaviours"][3]["user_id"]
    assert_violation(records, "behaviours[3] has no user_id (got None).")


def test_check_invariants_reports_a_record_of_an_unknown_session() -> None:
    records = dataset()
    records["behaviours"][2]["session_id"] = "ghost"
    assert_violation(records, "behaviours[2] names session 'ghost', never emitted.")


def test_check_invariants_reports_a_record_of_an_unknown_user() -> None:
    records = dataset()
    records["users"] = [r for r in records["users"] if r["user_id"] != "u1"]
    assert_violation(records, "names user 'u1', never emitted.")


def test_check_invariants_reports_a_user_that_differs_from_its_session() -> None:
    records = dataset()
    marketing = records["marketings"][0]
    marketing["user_id"] = "u2"
    assert_violation(records, "marketings[0] has user 'u2' but its session")


def test_check_invariants_reports_an_event_outside_its_session() -> None:
    records = dataset()
    session = records["sessions"][0]
    behaviour = first(records["behaviours"], session_id=session["session_id"])
    behaviour["event_time"] = "2099-01-01T00:00:00.000Z"
    assert_violation(records, "is outside its session")


def test_check_invariants_reports_time_going_backwards_in_a_session() -> None:
    records = dataset()
    session = records["sessions"][0]
    ours = [
        r for r in records["behaviours"] if r["session_id"] == session["session_id"]
    ]
    assert ours[-2]["event_time"] > session["started_at"]
    ours[-1]["event_time"] = session["started_at"]
    assert_violation(records, "time went backwards")


def test_check_invariants_reports_overlapping_sessions_of_a_user() -> None:
    records = dataset()
    second = [s for s in records["sessions"] if s["user_id"] == "u0"][1]
    second["started_at"] = "2000-01-01T00:00:00.000Z"
    assert_violation(records, "user 'u0' has overlapping sessions")


def test_check_invariants_reports_a_bad_session_window() -> None:
    records = dataset()
    records["sessions"][0]["ended_at"] = "2000-01-01T00:00:00.000Z"
    assert_violation(records, "has a bad window")


def test_check_invariants_reports_an_order_without_purchase() -> None:
    records = dataset()
    order = records["orders"][0]
    records["behaviours"] = [
        r for r in records["behaviours"] if r.get("order_id") != order["order_id"]
    ]
    assert_violation(records, f"(order {order['order_id']}) has 0 purchase events")


def test_check_invariants_reports_two_purchases_for_one_order() -> None:
    records = dataset()
    order_id = records["orders"][0]["order_id"]
    purchase = first(records["behaviours"], order_id=order_id)
    records["behaviours"].append({**purchase, "event_id": "copy"})
    assert_violation(records, f"(order {order_id}) has 2 purchase events, expected 1.")


def test_check_invariants_reports_a_purchase_without_order() -> None:
    records = dataset()
    order_id = records["orders"].pop(0)["order_id"]
    assert_violation(records, f"purchase event for order {order_id} has no order.")
    assert_violation(records, f"names order '{order_id}', never emitted.")


def test_check_invariants_reports_a_purchase_without_order_id() -> None:
    records = dataset()
    purchase = first(records["behaviours"], event_name="purchase")
    del purchase["order_id"]
    assert_violation(records, "is a purchase without an order_id.")


def test_check_invariants_reports_a_purchase_value_that_differs_from_total() -> None:
    records = dataset()
    purchase = first(records["behaviours"], event_name="purchase")
    purchase["value"] = round(purchase["value"] + 1, 2)
    assert_violation(records, "!= its purchase value")


def test_check_invariants_reports_a_total_that_does_not_add_up() -> None:
    records = dataset()
    records["orders"][0]["total"] = round(records["orders"][0]["total"] + 0.01, 2)
    assert_violation(records, "total")
    assert_violation(records, "!= subtotal + shipping + tax")


def test_check_invariants_reports_a_subtotal_that_does_not_add_up() -> None:
    records = dataset()
    records["orders"][0]["subtotal"] = round(records["orders"][0]["subtotal"] + 1, 2)
    assert_violation(records, "!= sum of line totals")


def test_check_invariants_reports_a_wrong_line_total() -> None:
    records = dataset()
    item = records["orders"][0]["items"][0]
    item["line_total"] = round(item["line_total"] + 0.5, 2)
    assert_violation(records, "items[0] line_total")


def test_check_invariants_reports_a_negative_amount() -> None:
    records = dataset()
    records["orders"][0]["shipping"] = -4.99
    assert_violation(records, "shipping is negative: -4.99.")


def test_check_invariants_reports_fractions_of_a_cent() -> None:
    records = dataset()
    records["orders"][0]["tax"] = 1.005
    assert_violation(records, "tax is not an amount in cents: 1.005.")


def test_check_invariants_reports_a_duplicate_event_id() -> None:
    records = dataset()
    records["sessions"][1]["event_id"] = records["behaviours"][0]["event_id"]
    assert_violation(records, "sessions[1] repeats event_id")


def test_check_invariants_reports_a_duplicate_session_id() -> None:
    records = dataset()
    records["sessions"].append({**records["sessions"][0], "event_id": "another"})
    assert_violation(records, "repeats session_id")


def test_check_invariants_reports_a_duplicate_order_id() -> None:
    records = dataset()
    records["orders"].append({**records["orders"][0], "event_id": "another"})
    assert_violation(records, "repeats order_id")


def test_check_invariants_reports_a_malformed_event_time() -> None:
    records = dataset()
    records["marketings"][0]["event_time"] = "2026-05-28 20:26:40"
    assert_violation(records, "marketings[0] has a malformed event_time")


def test_check_invariants_caps_the_list_of_violations() -> None:
    records = dataset()
    for record in records["behaviours"][:80]:
        record["user_id"] = ""
    violations = check_invariants(records)
    assert len(violations) == MAX_VIOLATIONS + 1
    assert violations[-1].startswith("... and ")
    assert violations[-1].endswith(" more violations")
