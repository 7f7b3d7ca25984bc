"""Event time for a run: realtime or accelerated, shared by every process of the run.

A Clock is plain data (two epochs and a speed), so the driver fixes it once and every actor
on every node computes the same event time from its own wall clock.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from raysim.config import ClockConfig

__all__ = ["Clock"]


@dataclass(frozen=True)
class Clock:
    """Maps wall time to event time: sim = sim_epoch_s + (wall - wall_epoch_s) * speed."""

    wall_epoch_s: float
    sim_epoch_s: float
    speed: float = 1.0

    @classmethod
    def start(cls, config: ClockConfig, wall_now_s: float | None = None) -> Clock:
        wall = time.time() if wall_now_s is None else wall_now_s
        if config.mode == "realtime":
            return cls(wall, wall, 1.0)
        sim = config.start.timestamp() if config.start is not None else wall
        return cls(wall, sim, config.speed)

    def now(self) -> float:
        """Event time now, as epoch seconds."""
        return self.sim_epoch_s + (time.time() - self.wall_epoch_s) * self.speed

    def wall_delay_s(self, sim_s: float) -> float:
        """Wall seconds until event time reaches `sim_s` (0 if it already has)."""
        return max(0.0, (sim_s - self.now()) / self.speed)

    def wall_span_s(self, sim_span_s: float) -> float:
        """How long a span of event time lasts on the wall clock."""
        return sim_span_s / self.speed

    async def sleep_until(self, sim_s: float) -> None:
        delay = self.wall_delay_s(sim_s)
        if delay > 0:
            await asyncio.sleep(delay)
