"""Event time for a run: realtime, accelerated or backfill, shared by every process.

A Clock is plain data (two epochs, a speed, and for backfill an end and a skew
bound), so the driver fixes it once and every actor on every node computes the same
event time from its own wall clock. In backfill the wall clock plays no part: each
simulator keeps its own simulated time, and the coordinator keeps those within
`max_skew_s` of each other.
"""

from __future__ import annotations

import asyncio
import math
import time
from bisect import bisect_right
from dataclasses import dataclass

from raysim.config import ClockConfig

__all__ = ["Clock", "Lateness"]


@dataclass(frozen=True)
class Clock:
    """Maps wall time to event time: sim = sim_epoch_s + (wall - wall_epoch_s) * speed.

    In backfill mode only `sim_epoch_s` (the start), `end_s` and `max_skew_s` apply.
    """

    wall_epoch_s: float
    sim_epoch_s: float
    speed: float = 1.0
    mode: str = "realtime"  # "realtime" | "accelerated" | "backfill"
    end_s: float = math.inf  # backfill: event time stops here
    max_skew_s: float = 60.0  # backfill: how far apart simulators may drift

    @classmethod
    def start(cls, config: ClockConfig, wall_now_s: float | None = None) -> Clock:
        wall = time.time() if wall_now_s is None else wall_now_s
        if config.mode == "realtime":
            return cls(wall, wall, 1.0)
        sim = config.start.timestamp() if config.start is not None else wall
        if config.mode == "backfill":
            assert config.end is not None  # the config refuses backfill without an end
            return cls(
                wall,
                sim,
                1.0,
                mode="backfill",
                end_s=config.end.timestamp(),
                max_skew_s=config.max_skew_s,
            )
        return cls(wall, sim, config.speed, mode=config.mode)

    @property
    def backfill(self) -> bool:
        return self.mode == "backfill"

    def now(self) -> float:
        """Event time now, as epoch seconds (realtime and accelerated only)."""
        return self.sim_epoch_s + (time.time() - self.wall_epoch_s) * self.speed

    def wall_delay_s(self, sim_s: float) -> float:
        """Wall seconds until event time reaches `sim_s` (0 if it already has)."""
        return max(0.0, (sim_s - self.now()) / self.speed)

    def behind_s(self, sim_s: float) -> float:
        """Wall seconds since event time passed `sim_s`; negative while it is ahead."""
        return time.time() - self.wall_epoch_s - (sim_s - self.sim_epoch_s) / self.speed

    def wall_span_s(self, sim_span_s: float) -> float:
        """How long a span of event time lasts on the wall clock."""
        return sim_span_s / self.speed

    async def sleep_until(self, sim_s: float) -> None:
        delay = self.wall_delay_s(sim_s)
        if delay > 0:
            await asyncio.sleep(delay)


# Lateness bucket edges: 1 ms, growing by a fifth each, up to about 19 hours.
_LATE_EDGES = tuple(0.001 * 1.2**k for k in range(100))


class Lateness:
    """How far behind schedule events went out, in wall seconds: max and p99.

    A histogram with buckets a fifth apart, so recording costs one bisect and the p99 is
    exact to within that fifth (it reports the bucket's upper edge).
    """

    __slots__ = ("count", "counts", "max_s")

    def __init__(self) -> None:
        self.counts = [0] * (len(_LATE_EDGES) + 1)
        self.count = 0
        self.max_s = 0.0

    def record(self, behind_s: float) -> None:
        self.count += 1
        if behind_s > self.max_s:
            self.max_s = behind_s
        self.counts[bisect_right(_LATE_EDGES, behind_s)] += 1

    def quantile(self, q: float) -> float:
        """The q-quantile (0 < q <= 1) of what was recorded, up to a bucket edge."""
        if self.count == 0:
            return 0.0
        rank = q * self.count
        seen = 0
        for bucket, number in enumerate(self.counts):
            seen += number
            if seen >= rank:
                edge = _LATE_EDGES[bucket] if bucket < len(_LATE_EDGES) else self.max_s
                return min(edge, self.max_s)
        return self.max_s
