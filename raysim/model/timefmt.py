"""Fast UTC ISO 8601 formatting of epoch seconds for event records.

Independent of the local time zone. The millisecond is truncated, as the Kafka timestamp
`int(time_s * 1000)` is, so the string and the message timestamp always agree.
"""

from __future__ import annotations

import time

__all__ = ["format_time"]

# NOTE: a backfill moves through thousands of simulated seconds per wall second, and
# each whole second is formatted once and then read from here many times.
_PREFIX_CACHE_SIZE = 65_536
_prefixes: dict[int, str] = {}
_MILLIS = tuple(f"{ms:03d}Z" for ms in range(1000))


def _prefix(second: int) -> str:
    """Return "YYYY-MM-DDTHH:MM:SS." for a whole epoch second, cached."""
    if len(_prefixes) >= _PREFIX_CACHE_SIZE:
        _prefixes.clear()
    tm = time.gmtime(second)
    text = (
        f"{tm.tm_year:04d}-{tm.tm_mon:02d}-{tm.tm_mday:02d}"
        f"T{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}."
    )
    _prefixes[second] = text
    return text


def format_time(ts: float) -> str:
    """Format epoch seconds as "2026-12-04T17:29:32.123Z" (UTC, milliseconds, Z)."""
    second, ms = divmod(int(ts * 1000), 1000)
    prefix = _prefixes.get(second)
    if prefix is None:
        prefix = _prefix(second)
    return prefix + _MILLIS[ms]
