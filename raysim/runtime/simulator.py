"""The session loop of one simulator: leases users, plays their sessions, sends events.

A plain class that runs on whatever asyncio loop calls `run()`; `runtime.actors` wraps
it in a Ray actor. Nothing here may block the loop.

Every mode keeps one heap of the next event of each session in flight. Realtime and
accelerated runs sleep until the top of the heap is due; backfill runs emit it at once,
in simulated-time order, with the same slots, leases and gaps. A session that sleeps
long keeps only its place in the heap and builds its records again when it wakes (the
model is deterministic), so a sleeping session costs a few hundred bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from raysim.clock import Clock, Lateness
from raysim.config import Config
from raysim.model.catalog import Catalog
from raysim.model.journey import Event, Journey
from raysim.model.timefmt import format_time
from raysim.runtime.coordinator import Lease, LeaseBatch
from raysim.runtime.session import close_early
from raysim.runtime.throttle import CpuThrottle
from raysim.sinks.base import Sink

logger = logging.getLogger(__name__)

__all__ = ["Exchange", "SimulatorCore", "Slots"]

# (simulator index is bound in) returned users, wanted leases[, simulated time in
# backfill] -> a batch of leases
Exchange = Callable[..., Awaitable[LeaseBatch]]
FLUSH_TIMEOUT_S = 30.0
# Backfill tuning.
YIELD_EVERY = 256  # events between two chances for stats() and stop() to run
# Leases kept at hand beyond the free slots (about one exchange per batch), and the
# level below which more are asked for without waiting: at least these, and more for a
# high concurrency, whose sessions turn over faster than an exchange's round trip.
LEASE_BATCH = 160
LEASE_LOW_WATER = 32
LEASE_BATCH_SHARE = 0.5  # of the concurrency
LEASE_LOW_WATER_SHARE = 0.25
RETRY_SIM_S = 600.0  # every user is busy: ask again this much later (or on returns)
SKEW_WAIT_MIN_S = 0.0002  # wall-clock wait when ahead of the slowest simulator,
SKEW_WAIT_MAX_S = 0.002  # doubling up to this
# Several simulators: report simulated time every max_skew_s / REPORTS_PER_SKEW, so
# that the others' horizons move on before they reach them.
REPORTS_PER_SKEW = 4
LATENESS_QUANTILE = 0.99
# Realtime and accelerated: a session whose next event is further off than this (wall
# seconds) drops its records and builds them again when that event is due.
HOLD_S = 1.0
START_YIELD_EVERY = 32  # sessions begun between two chances for the player to run


class _Session:
    """A session in flight: its lease, when it began, its events, how many went out.

    `events` is None while the session sleeps without its records; its heap entry
    keeps the time of the next one.
    """

    __slots__ = ("count", "events", "lease", "sent", "start_s")

    def __init__(self, lease: Lease, start_s: float, events: list[Event]) -> None:
        self.lease = lease
        self.start_s = start_s
        self.events: list[Event] | None = events
        self.count = len(events)
        self.sent = 0


class Slots:
    """A semaphore whose limit can change while it is in use. One acquirer at a time."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0
        self.closed = False
        self._waiter: asyncio.Future[None] | None = None

    async def acquire(self) -> None:
        """Take a slot; once closed, return at once (the caller checks why)."""
        while self.in_use >= self.limit and not self.closed:
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

    def close(self) -> None:
        """Let a waiting acquire() return although every slot is taken: a stop."""
        self.closed = True
        self.wake()

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class SimulatorCore:
    """Runs sessions as slots free, never in waves, until stopped or users run out."""

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
        self._lease_batch = max(LEASE_BATCH, int(sim.concurrency * LEASE_BATCH_SHARE))
        self._lease_low = max(
            LEASE_LOW_WATER, int(sim.concurrency * LEASE_LOW_WATER_SHARE)
        )
        self._throttle = CpuThrottle(sim.throttle, sim.concurrency, read_cpu)
        self._leases: deque[Lease] = deque()
        self._returns: list[tuple[int, float]] = []
        self._waker: asyncio.Future[None] | None = None  # the player's sleep
        self._starting = False  # realtime: the starter may still begin sessions
        self._stop = asyncio.Event()
        self._state = "created"
        self._started_at: float | None = None
        self.sessions_started = 0
        self.sessions_completed = 0
        self.sessions_cut = 0
        self.exchanges = 0
        self.undelivered = 0
        self._late = Lateness()  # realtime and accelerated: behind schedule
        # Sessions in flight by the time of their next event.
        self._heap: list[tuple[float, int, _Session]] = []
        self._seq = itertools.count()
        # Backfill state, in simulated epoch seconds.
        self._sim_now = clock.sim_epoch_s  # the last event emitted or session begun
        self._promised_s = clock.sim_epoch_s  # told the coordinator: nothing earlier
        self._reported_s = clock.sim_epoch_s
        self._horizon_s = math.inf  # emit nothing later before asking again
        self._ready: list[tuple[float, int, Lease]] = []  # leases by when free
        self._retry_s = -math.inf  # every user was busy: ask again from here
        self._users_done = False
        self._pending: asyncio.Future[LeaseBatch] | None = None
        self._pending_floor_s = 0.0
        self._pending_want = 0
        self._report_at = math.inf  # several simulators: report our time from here
        self.max_skew_s = 0.0
        self.skew_waits = 0
        self.skew_wait_s = 0.0
        self.exchange_wait_s = 0.0  # backfill: emitting nothing, waiting for an answer

    async def run(self) -> dict[str, Any]:
        """Play sessions until `stop()`, the end or every user is done; return stats."""
        if self._state != "created":
            raise RuntimeError(f"Simulator {self.index} already {self._state}.")
        self._state = "running"
        self._started_at = time.time()
        await self._sink.start()
        if self._clock.backfill:
            logger.info(
                "worker %d: backfill %s..%s, concurrency %d",
                self.index,
                format_time(self._clock.sim_epoch_s),
                format_time(self._clock.end_s),
                self._slots.limit,
            )
            try:
                await self._backfill()
            finally:
                await self._drain_backfill()
            return self.stats()
        loop = asyncio.get_running_loop()
        throttle = loop.create_task(self._throttle_forever())
        logger.info("worker %d: running, concurrency %d", self.index, self._slots.limit)
        self._starting = True
        starter = loop.create_task(self._start_sessions())
        try:
            await self._play()
        finally:
            self.stop()  # the starter returns, with any leases it was getting
            throttle.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await throttle
            try:
                await starter  # raises what stopped it, after the drain
            finally:
                await self._drain()
        return self.stats()

    def stop(self) -> None:
        """Start no new session; close the ones in flight; flush."""
        self._stop.set()
        self._slots.close()
        self._wake()

    def set_concurrency(self, concurrency: int) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}.")
        self._throttle.set_target(concurrency)
        self._slots.set_limit(self._throttle.limit)

    @property
    def sim_time_s(self) -> float:
        """Backfill: this simulator's simulated time; every event before it is out.

        It may be ahead of the last event sent when nothing happens until later.
        """
        return max(self._sim_now, self._promised_s)

    def stats(self) -> dict[str, Any]:
        backfill = self._clock.backfill
        late = self._late
        return {
            "index": self.index,
            "state": self._state,
            "sessions_started": self.sessions_started,
            "sessions_completed": self.sessions_completed,
            "sessions_cut": self.sessions_cut,
            "sessions_in_flight": len(self._heap),
            "sim_time": format_time(self.sim_time_s) if backfill else None,
            "max_skew_s": round(self.max_skew_s, 3) if backfill else None,
            "skew_waits": self.skew_waits,
            "skew_wait_s": round(self.skew_wait_s, 3),
            "exchange_wait_s": round(self.exchange_wait_s, 3),
            "behind_s_max": None if backfill else round(late.max_s, 4),
            "behind_s_p99": (
                None if backfill else round(late.quantile(LATENESS_QUANTILE), 4)
            ),
            "concurrency": self._slots.limit,
            "concurrency_target": self._throttle.target,
            "throttled": self._throttle.throttled_count,
            "cpu_percent": self._throttle.last_cpu_percent,
            "exchanges": self.exchanges,
            "undelivered": self.undelivered,
            "topics": self._sink.counts(),
        }

    # Realtime and accelerated: a starter fills free slots, a player sends what is due.

    async def _start_sessions(self) -> None:
        countdown = START_YIELD_EVERY
        try:
            while not self._stop.is_set():
                await self._slots.acquire()
                if self._stop.is_set():
                    self._slots.release()
                    break
                lease = await self._next_lease()
                if lease is None:
                    self._slots.release()
                    break
                self._begin(lease, self._clock.now())
                self._wake()
                countdown -= 1
                if countdown == 0:
                    # Starting thousands of sessions must not hold up what is due.
                    await asyncio.sleep(0)
                    countdown = START_YIELD_EVERY
        except BaseException:
            self._stop.set()  # the player stops too; run() raises this after draining
            raise
        finally:
            self._starting = False
            self._wake()

    async def _next_lease(self) -> Lease | None:
        """The next leased user; None once the run is over for this simulator."""
        while not self._leases:
            if self._stop.is_set():
                return None
            batch = await self._swap(want=max(1, self._slots.limit))
            self._leases.extend(batch.leases)
            if batch.done and not self._heap and not self._leases:
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

    async def _play(self) -> None:
        """Send each event when it is due, until stopped or nothing is left to start."""
        heap = self._heap
        clock = self._clock
        late = self._late
        sink = self._sink
        send = sink.send
        seq = self._seq
        countdown = YIELD_EVERY
        while not self._stop.is_set():
            if not heap:
                if not self._starting:
                    return
                await self._sleep(None)
                continue
            time_s, _, session = heap[0]
            behind = clock.behind_s(time_s)
            if behind < 0:
                await self._sleep(-behind)
                countdown = YIELD_EVERY
                continue
            late.record(behind)
            events = session.events
            if events is None:
                events = session.events = self._events(session.lease, session.start_s)
            sent = session.sent
            _, topic, record = events[sent]
            if not send(topic, record, time_s):
                await sink.send_async(topic, record, time_s)
            sent += 1
            session.sent = sent
            if sent < session.count:
                next_s = events[sent][0]
                if clock.behind_s(next_s) < -HOLD_S:
                    session.events = None  # built again when next_s is due
                heapq.heapreplace(heap, (next_s, next(seq), session))
            else:
                heapq.heappop(heap)
                self._complete(session, time_s)
                self._slots.release()
            countdown -= 1
            if countdown == 0:
                await asyncio.sleep(0)
                countdown = YIELD_EVERY

    async def _sleep(self, delay_s: float | None) -> None:
        """Sleep `delay_s` wall seconds (None: indefinitely) or until `_wake()`."""
        waker = self._waker = asyncio.get_running_loop().create_future()
        timer = (
            None
            if delay_s is None
            else asyncio.get_running_loop().call_later(delay_s, self._wake)
        )
        try:
            await waker
        finally:
            self._waker = None
            if timer is not None:
                timer.cancel()

    def _wake(self) -> None:
        waker = self._waker
        if waker is not None and not waker.done():
            waker.set_result(None)

    async def _throttle_forever(self) -> None:
        interval = self._config.simulation.throttle.interval_s
        while True:
            self._slots.set_limit(self._throttle.sample())
            await asyncio.sleep(interval)

    async def _drain(self) -> None:
        self._state = "draining"
        now = self._clock.now()
        await self._close_in_flight(now)
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

    # Backfill: a discrete-event loop in simulated time, no sleeping.

    async def _backfill(self) -> None:
        end_s = self._clock.end_s
        heap = self._heap
        ready = self._ready
        await self._ask(self._lease_want())
        while not self._stop.is_set():
            self._absorb_pending()
            self._fill()
            wake_s = math.inf  # when a free slot can next start a session
            start_s = max(self._sim_now, self._promised_s)
            if len(heap) < self._slots.limit and start_s < end_s:
                if ready:
                    wake_s = ready[0][0]  # that user is not free yet
                elif not self._users_done:
                    if self._may_ask():
                        await self._ask(self._lease_want())
                        continue
                    wake_s = self._retry_s
            top_s = heap[0][0] if heap else math.inf
            next_s = min(top_s, wake_s)
            if next_s == math.inf:
                logger.info("worker %d: every user is done", self.index)
                return
            if next_s > end_s:
                # What is in flight closes at the end, which must be within reach too.
                if heap and end_s > self._horizon_s:
                    await self._wait_for_horizon(end_s)
                    continue
                self._sim_now = end_s
                logger.info("worker %d: simulated time reached the end", self.index)
                return
            if next_s > self._horizon_s:
                await self._wait_for_horizon(next_s)
            elif wake_s < top_s:
                self._sim_now = wake_s  # nothing happens before a user is free
            else:
                await self._emit_until(min(wake_s, self._horizon_s, end_s))

    async def _emit_until(self, limit_s: float) -> None:
        """Emit events in simulated-time order up to `limit_s`.

        Returns early when a slot frees and no user is free to fill it, when a
        coordinator answer arrives, or when the run is stopping.
        """
        heap = self._heap
        ready = self._ready
        sink = self._sink
        send = sink.send
        seq = self._seq
        end_s = self._clock.end_s
        countdown = YIELD_EVERY
        while heap:
            time_s, _, session = heap[0]
            if time_s > limit_s:
                return
            self._sim_now = time_s
            events = session.events
            sent = session.sent
            _, topic, record = events[sent]
            if not send(topic, record, time_s):
                await sink.send_async(topic, record, time_s)
            sent += 1
            session.sent = sent
            if sent < len(events):
                heapq.heapreplace(heap, (events[sent][0], next(seq), session))
            else:
                heapq.heappop(heap)
                self._complete(session, time_s)
                # The slot is free: the next shopper starts now, if one is free.
                start_s = max(time_s, self._promised_s)
                if not ready or ready[0][0] > start_s or start_s >= end_s:
                    return  # the loop above asks for users or waits for one
                if len(heap) < self._slots.limit:
                    self._begin(heapq.heappop(ready)[2], start_s)
                self._prefetch()
            if time_s >= self._report_at and self._pending is None:
                self._request(self._lease_want() if self._low_on_leases() else 0)
            countdown -= 1
            if countdown == 0:
                await asyncio.sleep(0)
                if self._stop.is_set() or (
                    self._pending is not None and self._pending.done()
                ):
                    return
                countdown = YIELD_EVERY

    # Sessions, in every mode.

    def _events(self, lease: Lease, start_s: float) -> list[Event]:
        """The events of the lease's session from `start_s`: the same on every call."""
        journey = self._journey
        events = journey.session(lease.user, lease.session_number, start_s)
        if lease.session_number == 1:
            events.insert(0, journey.user_record(lease.user, start_s))
        return events

    def _begin(self, lease: Lease, start_s: float) -> None:
        session = _Session(lease, start_s, self._events(lease, start_s))
        heapq.heappush(self._heap, (start_s, next(self._seq), session))
        self.sessions_started += 1

    def _complete(self, session: _Session, end_s: float) -> None:
        """The session's last event went out: its user is free again after a gap."""
        self.sessions_completed += 1
        gap = self._gap
        # (not a local: an exchange takes the list away)
        self._returns.append(
            (session.lease.index, end_s + self._gap_rng.uniform(gap.min, gap.max))
        )

    def _fill(self) -> None:
        """Start sessions in the free slots for the users at hand who are free now."""
        ready = self._ready
        start_s = max(self._sim_now, self._promised_s)
        if start_s < self._clock.end_s:
            limit = self._slots.limit
            while ready and ready[0][0] <= start_s and len(self._heap) < limit:
                self._begin(heapq.heappop(ready)[2], start_s)
        self._prefetch()

    def _may_ask(self) -> bool:
        """Worth asking for users: one may be free, or enough were handed back."""
        return self._retry_s <= self._sim_now or len(self._returns) >= self._lease_low

    def _low_on_leases(self) -> bool:
        return (
            len(self._ready) < self._lease_low
            and not self._users_done
            and self._may_ask()
        )

    def _lease_want(self) -> int:
        free = max(0, self._slots.limit - len(self._heap))
        return max(0, free + self._lease_batch - len(self._ready))

    def _prefetch(self) -> None:
        """Ask for more users before they run out, without waiting for the answer."""
        if self._pending is None and self._low_on_leases():
            self._request(self._lease_want())

    def _request(self, want: int) -> None:
        """Start an exchange; its answer is taken in by `_absorb_pending`."""
        returned, self._returns = self._returns, []
        floor = self._sim_now
        self._promised_s = max(self._promised_s, floor)
        self._pending_floor_s = floor
        self._pending_want = want
        self._report_at = math.inf
        self.exchanges += 1
        self._pending = asyncio.ensure_future(self._exchange(returned, want, floor))

    def _absorb_pending(self) -> None:
        pending = self._pending
        if pending is not None and pending.done():
            self._pending = None
            self._absorb(pending.result(), self._pending_floor_s, self._pending_want)

    async def _ask(self, want: int, floor_s: float | None = None) -> None:
        """Exchange with the coordinator and wait for the answer.

        With an exchange already under way, wait for that one instead. `floor_s`: the
        earliest time this simulator may still emit (default: now); it is promised to
        the coordinator, so no session starts before it.
        """
        started = time.monotonic()
        try:
            if self._pending is not None:
                pending, self._pending = self._pending, None
                batch = await pending
                self._absorb(batch, self._pending_floor_s, self._pending_want)
                return
            returned, self._returns = self._returns, []
            floor = self._sim_now if floor_s is None else floor_s
            self._promised_s = max(self._promised_s, floor)
            self.exchanges += 1
            batch = await self._exchange(returned, want, floor)
            self._absorb(batch, floor, want)
        finally:
            self.exchange_wait_s += time.monotonic() - started

    def _absorb(self, batch: LeaseBatch, floor_s: float, want: int) -> None:
        ready = self._ready
        for lease in batch.leases:
            heapq.heappush(ready, (lease.available_s, next(self._seq), lease))
        self._horizon_s = batch.horizon_s
        if batch.done:
            self._users_done = True
        if want > 0 and not batch.leases:
            # Every user is busy: ask again later, or once enough come back.
            self._retry_s = max(floor_s, self._sim_now) + RETRY_SIM_S
        self._reported_s = max(self._reported_s, floor_s)
        self._report_at = (
            self._reported_s + self._clock.max_skew_s / REPORTS_PER_SKEW
            if batch.horizon_s < math.inf
            else math.inf
        )
        # How far this simulator is ahead of the slowest other one, as now known.
        lead = self._sim_now - batch.min_s
        if lead > self.max_skew_s:
            self.max_skew_s = lead

    async def _wait_for_horizon(self, next_s: float) -> None:
        """Ahead of the others: report, and wait (wall clock) until they catch up."""
        started = time.monotonic()
        self.skew_waits += 1
        delay = SKEW_WAIT_MIN_S
        while next_s > self._horizon_s and not self._stop.is_set():
            if self._pending is not None:
                await self._ask(0)  # takes in the answer already under way
                continue
            want = self._lease_want() if self._low_on_leases() else 0
            await self._ask(want, floor_s=next_s)
            if next_s <= self._horizon_s:
                break
            await asyncio.sleep(delay)
            delay = min(2 * delay, SKEW_WAIT_MAX_S)
        self.skew_wait_s += time.monotonic() - started

    async def _close_in_flight(self, at_s: float) -> None:
        """Close every session in flight at `at_s`, as a stop or the end does."""
        heap, self._heap = self._heap, []
        gap = self._gap
        closing: list[Event] = []
        for number, (_, _, session) in enumerate(heap, start=1):
            events = session.events
            if events is None:
                events = self._events(session.lease, session.start_s)
            if number % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # 100,000 sleeping sessions take seconds
            # A session that has not begun yet (it starts at a promised time) closes
            # at its start, with what happens at that instant.
            cut_s = max(at_s, events[0][0])
            closing.extend(close_early(events, session.sent, cut_s))
            self.sessions_cut += 1
            gap_s = self._gap_rng.uniform(gap.min, gap.max)
            self._returns.append((session.lease.index, cut_s + gap_s))
        closing.sort(key=lambda event: event[0])
        sink = self._sink
        for number, (time_s, topic, record) in enumerate(closing, start=1):
            if not sink.send(topic, record, time_s):
                await sink.send_async(topic, record, time_s)
            if number % YIELD_EVERY == 0:
                await asyncio.sleep(0)

    async def _drain_backfill(self) -> None:
        self._state = "draining"
        stopped = self._stop.is_set()
        at_s = self._sim_now
        await self._close_in_flight(at_s)
        if self._pending is not None:
            with contextlib.suppress(Exception):
                await self._ask(0)  # its answer may carry leases to give back
        # Users never started keep their turn: free from when they were free.
        self._returns.extend(
            (lease.index, max(available_s, at_s))
            for available_s, _, lease in self._ready
        )
        self._ready.clear()
        with contextlib.suppress(Exception):
            self.exchanges += 1
            # math.inf: this simulator emits nothing more and holds nobody back.
            await self._exchange(self._returns, 0, math.inf)
            self._returns = []
        self.undelivered = await self._sink.close(FLUSH_TIMEOUT_S)
        self._state = "stopped"
        logger.info(
            "worker %d: %s at %s after %d sessions (%d closed early), %d undelivered, "
            "max skew %.1f s",
            self.index,
            "stopped" if stopped else "done",
            format_time(self._sim_now),
            self.sessions_started,
            self.sessions_cut,
            self.undelivered,
            self.max_skew_s,
        )
