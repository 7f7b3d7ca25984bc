"""The invariants every run must keep, checked on records grouped by logical topic.

Used by tests on generated sessions and by `verify` on what landed in Kafka. Records of
one topic are checked in the order given (for Kafka: the order within a partition).
"""

from __future__ import annotations

import logging
import math
import re
from collections import defaultdict
from typing import Any

from raysim.config import TOPIC_KEYS

logger = logging.getLogger(__name__)

__all__ = ["MAX_VIOLATIONS", "check_invariants"]

MAX_VIOLATIONS = 50
USERS, MARKETINGS, SESSIONS, ORDERS, BEHAVIOURS = TOPIC_KEYS
_TIME_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\Z")
_MONEY_TOLERANCE = 1e-6  # in cents: a float that is not whole cents is off by more


class _Report:
    def __init__(self) -> None:
        self.violations: list[str] = []
        self.count = 0

    def add(self, message: str) -> None:
        self.count += 1
        if len(self.violations) < MAX_VIOLATIONS:
            self.violations.append(message)

    def result(self) -> list[str]:
        if self.count > len(self.violations):
            hidden = self.count - len(self.violations)
            return [*self.violations, f"... and {hidden} more violations"]
        return list(self.violations)


def check_invariants(records: dict[str, list[dict]]) -> list[str]:
    """Return one readable line per broken invariant; an empty list means all good.

    At most MAX_VIOLATIONS lines are listed, then a line with how many more there were.
    """
    report = _Report()
    users = records.get(USERS, [])
    marketings = records.get(MARKETINGS, [])
    sessions = records.get(SESSIONS, [])
    orders = records.get(ORDERS, [])
    behaviours = records.get(BEHAVIOURS, [])

    _check_common(records, report)
    user_ids = {r.get("user_id") for r in users}
    session_by_id: dict[str, dict] = {}
    for index, session in enumerate(sessions):
        session_id = session.get("session_id")
        where = f"sessions[{index}] (session {session_id})"
        if not isinstance(session_id, str) or not session_id:
            report.add(f"{where} has no session_id.")
            continue
        if session_id in session_by_id:
            report.add(f"{where} repeats session_id {session_id}.")
            continue
        session_by_id[session_id] = session
        if session.get("user_id") not in user_ids:
            report.add(f"{where} names user {session.get('user_id')!r}, never emitted.")
        started, ended = session.get("started_at"), session.get("ended_at")
        if not _is_time(started) or not _is_time(ended) or ended < started:
            report.add(f"{where} has a bad window {started!r}..{ended!r}.")
    _check_overlaps(sessions, report)

    for topic, items in ((MARKETINGS, marketings), (BEHAVIOURS, behaviours)):
        for index, record in enumerate(items):
            _check_in_session(topic, index, record, session_by_id, user_ids, report)
    for index, order in enumerate(orders):
        _check_in_session(ORDERS, index, order, session_by_id, user_ids, report)
        _check_money(index, order, report)
    _check_order_in_sessions(behaviours, report)
    _check_purchases(orders, behaviours, session_by_id, report)
    return report.result()


def _is_time(value: Any) -> bool:
    return isinstance(value, str) and _TIME_PATTERN.match(value) is not None


def _check_common(records: dict[str, list[dict]], report: _Report) -> None:
    """user_id and a well-formed event_time on every record; event_id unique."""
    first_seen: dict[str, str] = {}
    for topic, items in records.items():
        for index, record in enumerate(items):
            where = f"{topic}[{index}]"
            user_id = record.get("user_id")
            if not isinstance(user_id, str) or not user_id:
                report.add(f"{where} has no user_id (got {user_id!r}).")
            if not _is_time(record.get("event_time")):
                report.add(
                    f"{where} has a malformed event_time {record.get('event_time')!r}."
                )
            event_id = record.get("event_id")
            if not isinstance(event_id, str) or not event_id:
                report.add(f"{where} has no event_id.")
            elif event_id in first_seen:
                report.add(
                    f"{where} repeats event_id {event_id} of {first_seen[event_id]}."
                )
            else:
                first_seen[event_id] = where


def _check_overlaps(sessions: list[dict], report: _Report) -> None:
    by_user: dict[Any, list[dict]] = defaultdict(list)
    for session in sessions:
        if _is_time(session.get("started_at")) and _is_time(session.get("ended_at")):
            by_user[session.get("user_id")].append(session)
    for user_id, items in by_user.items():
        items.sort(key=lambda s: (s["started_at"], s["ended_at"]))
        for before, after in zip(items, items[1:], strict=False):
            if after["started_at"] < before["ended_at"]:
                report.add(
                    f"user {user_id!r} has overlapping sessions "
                    f"{before.get('session_id')} ({before['started_at']}.."
                    f"{before['ended_at']}) and {after.get('session_id')} "
                    f"({after['started_at']}..{after['ended_at']})."
                )


def _check_in_session(
    topic: str,
    index: int,
    record: dict,
    session_by_id: dict[str, dict],
    user_ids: set[Any],
    report: _Report,
) -> None:
    where = f"{topic}[{index}]"
    user_id = record.get("user_id")
    if user_id not in user_ids:
        report.add(f"{where} names user {user_id!r}, never emitted.")
    session_id = record.get("session_id")
    session = session_by_id.get(session_id) if isinstance(session_id, str) else None
    if session is None:
        report.add(f"{where} names session {session_id!r}, never emitted.")
        return
    if session.get("user_id") != user_id:
        report.add(
            f"{where} has user {user_id!r} but its session {session_id} belongs to "
            f"{session.get('user_id')!r}."
        )
    event_time = record.get("event_time")
    started, ended = session.get("started_at"), session.get("ended_at")
    if _is_time(event_time) and _is_time(started) and _is_time(ended):
        if not started <= event_time <= ended:
            report.add(
                f"{where} at {event_time} is outside its session {session_id} "
                f"({started}..{ended})."
            )


def _check_order_in_sessions(behaviours: list[dict], report: _Report) -> None:
    """Within a session, behaviours in the given order never go back in time."""
    last: dict[Any, tuple[int, str]] = {}
    for index, record in enumerate(behaviours):
        session_id = record.get("session_id")
        event_time = record.get("event_time")
        if not _is_time(event_time):
            continue
        previous = last.get(session_id)
        if previous is not None and event_time < previous[1]:
            report.add(
                f"behaviours[{index}] at {event_time} comes after behaviours"
                f"[{previous[0]}] at {previous[1]} in session {session_id}: time went "
                "backwards."
            )
        last[session_id] = (index, event_time)


def _cents(value: Any) -> int | None:
    """Whole cents of a money amount, or None if it is not a number of whole cents."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value):
        return None
    cents = value * 100
    whole = round(cents)
    return (
        whole if abs(cents - whole) < _MONEY_TOLERANCE * max(1.0, abs(cents)) else None
    )


def _check_money(index: int, order: dict, report: _Report) -> None:
    where = f"orders[{index}] (order {order.get('order_id')})"
    amounts = {}
    for key in ("subtotal", "shipping", "tax", "total"):
        cents = _cents(order.get(key))
        if cents is None:
            report.add(f"{where} {key} is not an amount in cents: {order.get(key)!r}.")
            return
        if cents < 0:
            report.add(f"{where} {key} is negative: {order.get(key)!r}.")
        amounts[key] = cents
    items = order.get("items")
    if not isinstance(items, list) or not items:
        report.add(f"{where} has no items.")
        return
    lines = 0
    for number, item in enumerate(items):
        price = _cents(item.get("price"))
        line_total = _cents(item.get("line_total"))
        quantity = item.get("quantity")
        if price is None or line_total is None or not isinstance(quantity, int):
            report.add(f"{where} items[{number}] has a malformed price or quantity.")
            return
        if price < 0 or line_total < 0 or quantity < 1:
            report.add(f"{where} items[{number}] has a negative amount or quantity.")
        if price * quantity != line_total:
            report.add(
                f"{where} items[{number}] line_total {item.get('line_total')} != "
                f"price {item.get('price')} x quantity {quantity}."
            )
        lines += line_total
    if lines != amounts["subtotal"]:
        report.add(
            f"{where} subtotal {order.get('subtotal')} != sum of line totals "
            f"{lines / 100:.2f}."
        )
    expected = amounts["subtotal"] + amounts["shipping"] + amounts["tax"]
    if expected != amounts["total"]:
        report.add(
            f"{where} total {order.get('total')} != subtotal + shipping + tax "
            f"{expected / 100:.2f}."
        )


def _check_purchases(
    orders: list[dict],
    behaviours: list[dict],
    session_by_id: dict[str, dict],
    report: _Report,
) -> None:
    """Each order has exactly one purchase event with its order_id, and back."""
    purchases: dict[Any, list[dict]] = defaultdict(list)
    for index, record in enumerate(behaviours):
        if record.get("event_name") == "purchase":
            order_id = record.get("order_id")
            if not isinstance(order_id, str) or not order_id:
                report.add(f"behaviours[{index}] is a purchase without an order_id.")
            else:
                purchases[order_id].append(record)
    order_by_id: dict[str, dict] = {}
    for index, order in enumerate(orders):
        order_id = order.get("order_id")
        where = f"orders[{index}] (order {order_id})"
        if not isinstance(order_id, str) or not order_id:
            report.add(f"orders[{index}] has no order_id.")
            continue
        if order_id in order_by_id:
            report.add(f"{where} repeats order_id {order_id}.")
            continue
        order_by_id[order_id] = order
        matches = purchases.get(order_id, [])
        if len(matches) != 1:
            report.add(f"{where} has {len(matches)} purchase events, expected 1.")
            continue
        purchase = matches[0]
        if purchase.get("session_id") != order.get("session_id"):
            report.add(f"{where} and its purchase event are in different sessions.")
        if _cents(purchase.get("value")) != _cents(order.get("total")):
            report.add(
                f"{where} total {order.get('total')} != its purchase value "
                f"{purchase.get('value')}."
            )
        session = session_by_id.get(order.get("session_id"))
        if session is not None and session.get("order_id") != order_id:
            report.add(
                f"{where} is not the order_id of its session "
                f"({session.get('order_id')!r})."
            )
    for order_id in purchases:
        if order_id not in order_by_id:
            report.add(f"purchase event for order {order_id} has no order.")
    for session_id, session in session_by_id.items():
        order_id = session.get("order_id")
        if order_id is not None and order_id not in order_by_id:
            report.add(f"session {session_id} names order {order_id!r}, never emitted.")
