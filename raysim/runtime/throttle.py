"""CPU throttle: lowers an actor's sessions in flight while the host is saturated."""

from __future__ import annotations

import logging
from collections.abc import Callable

import psutil

from raysim.config import ThrottleConfig

logger = logging.getLogger(__name__)

__all__ = ["CpuThrottle"]

# Restore only once the load is this many points under the threshold, so that the limit
# does not flap around it.
HYSTERESIS_PERCENT = 10.0


class CpuThrottle:
    """Decides the concurrency limit from periodic CPU readings.

    Above `cpu_percent` the limit is multiplied by `factor` (never below
    `min_concurrency`); once the load falls clear of the threshold it is divided by
    `factor` again, up to the configured concurrency.
    """

    def __init__(
        self,
        config: ThrottleConfig,
        concurrency: int,
        read_cpu: Callable[[], float] | None = None,
    ) -> None:
        self._config = config
        self._target = concurrency
        self.limit = concurrency
        self._read_cpu = read_cpu or (lambda: psutil.cpu_percent(interval=None))
        self._primed = False
        self.throttled_count = 0
        self.last_cpu_percent: float | None = None

    @property
    def target(self) -> int:
        return self._target

    def set_target(self, concurrency: int) -> None:
        """A new configured concurrency (live change); the throttle works below it."""
        throttled = self.limit < self._target
        self._target = concurrency
        self.limit = min(self.limit, concurrency) if throttled else concurrency

    def sample(self) -> int:
        """Read the CPU once and return the limit to apply from now on."""
        cpu = self._read_cpu()
        if not self._primed:
            # psutil's first reading compares against nothing and is meaningless.
            self._primed = True
            return self.limit
        self.last_cpu_percent = cpu
        return self.update(cpu)

    def update(self, cpu_percent: float) -> int:
        threshold = self._config.cpu_percent
        if cpu_percent > threshold:
            lowered = max(self._floor(), int(self.limit * self._config.factor))
            if lowered < self.limit:
                self.throttled_count += 1
                logger.debug(
                    "cpu %.0f%% > %.0f%%: concurrency %d -> %d",
                    cpu_percent,
                    threshold,
                    self.limit,
                    lowered,
                )
            self.limit = lowered
        elif cpu_percent < threshold - HYSTERESIS_PERCENT and self.limit < self._target:
            stepped = max(self.limit + 1, int(self.limit / self._config.factor))
            raised = min(self._target, stepped)
            logger.debug(
                "cpu %.0f%%: concurrency %d -> %d", cpu_percent, self.limit, raised
            )
            self.limit = raised
        return self.limit

    def _floor(self) -> int:
        return min(self._config.min_concurrency, self._target)
