"""Event-loop lag: how late the loop wakes a task that asked to sleep.

A loop that something blocks (a slow callback, a blocking call) wakes sleepers late; the
overshoot is the time every session and delivery report waited too. The probe costs one
short sleep per interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["LoopLagProbe"]

PROBE_INTERVAL_S = 0.05
WINDOW = 1200  # samples kept: the last minute at the default interval


class LoopLagProbe:
    """Measures sleep overshoot on the running loop; `stats()` gives p99 and max."""

    def __init__(
        self, interval_s: float = PROBE_INTERVAL_S, window: int = WINDOW
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}.")
        self.interval_s = interval_s
        self._samples: deque[float] = deque(maxlen=window)
        self._max_s = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("LoopLagProbe already started.")
        self._task = asyncio.get_running_loop().create_task(self._measure_forever())
        self._task.add_done_callback(self._done)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def stats(self) -> dict[str, Any]:
        """Lag over the window (p99) and since the start (max), in milliseconds."""
        ordered = sorted(self._samples)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0
        return {
            "lag_p99_ms": round(p99 * 1000, 1),
            "lag_max_ms": round(self._max_s * 1000, 1),
            "lag_samples": len(ordered),
        }

    async def _measure_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.interval_s)
            lag = max(0.0, loop.time() - before - self.interval_s)
            self._samples.append(lag)
            self._max_s = max(self._max_s, lag)

    def _done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error("loop lag probe stopped", exc_info=task.exception())
