"""Closing a session early, when a run stops while the shopper is still browsing."""

from __future__ import annotations

from raysim.model.journey import Event
from raysim.model.timefmt import format_time

__all__ = ["close_early"]


def close_early(events: list[Event], sent: int, end_s: float) -> list[Event]:
    """What is left to send of a session cut at `end_s`, after `sent` of its events.

    Events already due are sent (an order right after its purchase); later ones never
    happen; the session record is closed at `end_s` and counts only what happened.
    """
    start_s = events[0][0] if events else end_s
    happened = [(t, topic, r) for t, topic, r in events[:sent]]
    rest: list[Event] = []
    closing: Event | None = None
    for time_s, topic, record in events[sent:]:
        if topic == "sessions":
            closing = (time_s, topic, record)
        elif time_s <= end_s:
            rest.append((time_s, topic, record))
    if closing is None:
        return rest  # the session record was already sent
    happened.extend(rest)
    behaviours = [r for _, topic, r in happened if topic == "behaviours"]
    orders = [r for _, topic, r in happened if topic == "orders"]
    stamp = format_time(end_s)
    record = dict(closing[2])
    record.update(
        event_time=stamp,
        ended_at=stamp,
        duration_s=round(end_s - start_s, 3),
        page_views=sum(1 for r in behaviours if r["event_name"] == "page_view"),
        events=len(behaviours),
        converted=bool(orders),
        order_id=orders[0]["order_id"] if orders else None,
    )
    return [*rest, (end_s, "sessions", record)]
