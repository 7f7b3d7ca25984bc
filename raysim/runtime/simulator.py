"""The session loop of one simulator: leases users, plays their sessions, sends events.

A plain class that runs on whatever asyncio loop calls `run()`; `runtime.actors` wraps it in
a Ray actor. Nothing here may block the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from raysim.clock import Clock
from raysim.config import Config
from raysim.model.catalog import Catalog
from raysim.model.journey import Event, Journey
from raysim.runtime.coordinator import Lease, LeaseBatch
from raysim.runtime.session import close_early
from raysim.runtime.throttle import CpuThrottle
from raysim.sinks.base import Sink

logger = logging.getLogger(__name__)

__all__ = ["Exchange", "SimulatorCore", "Slots"]

# (simulator index is bound in) returned users, wanted leases -> a batch of leases
Exchange = Callable[[list[tuple[int, float]], int], Awaitable[LeaseBatch]]
FLUSH_TIMEOUT_S = 30.0


class Slots:
    """A semaphore whose limit can change while it is in use. One acquirer at a time."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0
        self._waiter: asyncio.Future[None] | None = None

    async def acquire(self) -> None:
        while self.in_use >= self.limit:
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        self.in_use += 1

    def release(self) -> None:
        self.in_use -= 1
        if self.in_use < self.limit:
            self.wake()

    def set_limit(self, limit: int) -> None:
        self.limit = limit
        if self.in_use < limit:
            self.wake()

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class SimulatorCore:
    """Runs sessions as slots free, never in waves, until told to stop or users run out."""

    def __init__(
        self,
        index: int,
        config: Config,
        catalog: Catalog,
        clock: Clock,
        exchange: Exchange,
        sink: Sink,
        read_cpu: Callable[[], float] | None = None,
    ) -> None:
        sim = config.simulation
        self.index = index
        self._config = config
        self._clock = clock
        self._exchange = exchange
        self._sink = sink
        self._journey = Journey(
            config.store, catalog, sim.session_duration_s, config.seed
        )
        self._gap = sim.gap_s
        self._gap_rng = random.Random(f"{config.seed}:gap:{index}")
        self._slots = Slots(sim.concurrency)
        self._throttle = CpuThrottle(sim.throttle, sim.concurrency, read_cpu)
        self._leases: deque[Lease] = deque()
        self._returns: list[tuple[int, float]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        self._state = "created"
        self._started_at: float | None = None
        self.sessions_started = 0
        self.sessions_completed = 0
        self.sessions_cut = 0
        self.exchanges = 0
        self.undelivered = 0

    async def run(self) -> dict[str, Any]:
        """Play sessions until `stop()` or until every user is done; return final stats."""
        if self._state != "created":
            raise RuntimeError(f"Simulator {self.index} already {self._state}.")
        self._state = "running"
        self._started_at = time.time()
        await self._sink.start()
        throttle = asyncio.get_running_loop().create_task(self._throttle_forever())
        logger.info("worker %d: running, concurrency %d", self.index, self._slots.limit)
        try:
            await self._start_sessions()
        finally:
            throttle.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await throttle
            await self._drain()
        return self.stats()

    def stop(self) -> None:
        """Start no new session; close the ones in flight; flush."""
        self._stop.set()
        self._slots.wake()

    def set_concurrency(self, concurrency: int) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}.")
        self._throttle.set_target(concurrency)
        self._slots.set_limit(self._throttle.limit)

    def stats(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "state": self._state,
            "sessions_started": self.sessions_started,
            "sessions_completed": self.sessions_completed,
            "sessions_cut": self.sessions_cut,
            "sessions_in_flight": len(self._tasks),
            "concurrency": self._slots.limit,
            "concurrency_target": self._throttle.target,
            "throttled": self._throttle.throttled_count,
            "cpu_percent": self._throttle.last_cpu_percent,
            "exchanges": self.exchanges,
            "undelivered": self.undelivered,
            "topics": self._sink.counts(),
        }

    async def _start_sessions(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            await self._slots.acquire()
            if self._stop.is_set():
                self._slots.release()
                break
            lease = await self._next_lease()
            if lease is None:
                self._slots.release()
                break
            task = loop.create_task(self._session(lease))
            self._tasks.add(task)
            task.add_done_callback(self._session_done)

    async def _next_lease(self) -> Lease | None:
        """The next leased user; None once the run is over for this simulator."""
        while not self._leases:
            if self._stop.is_set():
                return None
            batch = await self._swap(want=max(1, self._slots.limit))
            self._leases.extend(batch.leases)
            if batch.done and not self._tasks and not self._leases:
                logger.info("worker %d: every user is done", self.index)
                return None
            if not batch.leases:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), batch.wait_s)
        return self._leases.popleft()

    async def _swap(self, want: int) -> LeaseBatch:
        returned, self._returns = self._returns, []
        self.exchanges += 1
        return await self._exchange(returned, want)

    async def _session(self, lease: Lease) -> None:
        clock = self._clock
        sink = self._sink
        start_s = end_s = clock.now()
        events: list[Event] = []
        sent = 0
        try:
            events = self._journey.session(lease.user, lease.session_number, start_s)
            if lease.session_number == 1:
                events.insert(0, self._journey.user_record(lease.user, start_s))
            end_s = events[-1][0]
            self.sessions_started += 1
            for time_s, topic, record in events:
                delay = clock.wall_delay_s(time_s)
                if delay > 0:
                    await asyncio.sleep(delay)
                if not sink.send(topic, record, time_s):
                    await sink.send_async(topic, record, time_s)
                sent += 1
            self.sessions_completed += 1
        except asyncio.CancelledError:
            # The run is stopping: the shopper's session ends now, with what happened.
            end_s = max(clock.now(), events[sent - 1][0] if sent else start_s)
            for time_s, topic, record in close_early(events, sent, end_s):
                await sink.send_async(topic, record, time_s)
            self.sessions_cut += 1
        finally:
            gap = self._gap_rng.uniform(self._gap.min, self._gap.max)
            self._returns.append((lease.index, end_s + gap))
            self._slots.release()

    def _session_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "worker %d: session failed", self.index, exc_info=task.exception()
            )

    async def _throttle_forever(self) -> None:
        interval = self._config.simulation.throttle.interval_s
        while True:
            self._slots.set_limit(self._throttle.sample())
            await asyncio.sleep(interval)

    async def _drain(self) -> None:
        self._state = "draining"
        # Let sessions created a moment ago begin, so that each one closes itself.
        await asyncio.sleep(0)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        now = self._clock.now()
        self._returns.extend((lease.index, now) for lease in self._leases)
        self._leases.clear()
        with contextlib.suppress(Exception):
            await self._swap(want=0)
        self.undelivered = await self._sink.close(FLUSH_TIMEOUT_S)
        self._state = "stopped"
        logger.info(
            "worker %d: stopped after %d sessions, %d undelivered",
            self.index,
            self.sessions_started,
            self.undelivered,
        )
