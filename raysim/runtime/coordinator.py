"""The user pool: the one place that knows which users are in a session anywhere.

Simulators lease users in batches and hand them back in batches, so the coordinator is
never on the per-event or per-session path. A plain class; `runtime.remote` makes it an
actor.

In backfill each simulator keeps its own simulated time and sends it with every
exchange. Users are leased when they are free at the caller's simulated time, and each
answer carries a horizon: the caller may not emit events past it, which keeps every
simulator within `clock.max_skew_s` of the others.
"""

from __future__ import annotations

import heapq
import logging
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

from raysim.clock import Clock
from raysim.config import Range

logger = logging.getLogger(__name__)

__all__ = ["Coordinator", "Lease", "LeaseBatch"]

# How long a simulator should wait before asking again when no user is free yet.
MAX_WAIT_S = 1.0


@dataclass(frozen=True)
class Lease:
    """One user handed to one simulator for one session.

    `user` is the whole user record for the user's first session, whose events
    include the users-topic record; later sessions need only its `user_id`, and
    that is all they carry, so that exchanges stay small.
    """

    index: int
    session_number: int  # 1 for the user's first session in the run
    user: dict[str, Any]
    available_s: float = 0.0  # event time from which the user may start it

    def __reduce__(self) -> tuple[Any, ...]:
        # Plain arguments pickle in a third of the time of a dataclass's state.
        return (Lease, (self.index, self.session_number, self.user, self.available_s))


@dataclass(frozen=True)
class LeaseBatch:
    leases: list[Lease]
    wait_s: float = 0.0  # no user is free: ask again after this many wall seconds
    done: bool = False  # every user has had all its sessions: stop asking
    # Backfill only, in simulated epoch seconds:
    horizon_s: float = math.inf  # emit nothing later than this before asking again
    min_s: float = math.inf  # the slowest other running simulator's time, as reported
    next_s: float = math.inf  # when the next free user becomes free (none free now)


@dataclass
class _Pool:
    free: list[tuple[float, int]] = field(default_factory=list)  # (available at, index)
    holder: dict[int, int] = field(default_factory=dict)  # index -> simulator
    sessions: list[int] = field(default_factory=list)  # sessions begun, per user
    cap: list[int] = field(default_factory=list)  # sessions allowed, per user


class Coordinator:
    """Leases users so that no user is ever in two sessions at once."""

    def __init__(
        self,
        users: list[dict[str, Any]],
        clock: Clock,
        sessions_per_user: Range | None,
        seed: int,
        simulators: int = 1,
    ) -> None:
        """`simulators`: how many will run; in backfill each counts from the start."""
        if not users:
            raise ValueError("Coordinator needs at least one user.")
        self._users = users
        self._ids = [{"user_id": user["user_id"]} for user in users]
        self._clock = clock
        rng = random.Random(f"{seed}:sessions_per_user")
        caps = [
            rng.randint(int(sessions_per_user.min), int(sessions_per_user.max))
            if sessions_per_user is not None
            else -1
            for _ in users
        ]
        self._pool = _Pool(
            free=[(0.0, i) for i in range(len(users))],
            sessions=[0] * len(users),
            cap=caps,
        )
        heapq.heapify(self._pool.free)
        self._retired = 0
        self._stopped = False
        self.calls = 0
        self.sessions_leased = 0
        self.lost_simulators: list[int] = []
        self._simulators = max(1, simulators)
        # Backfill: each running simulator's simulated time as last reported, and the
        # horizon last granted to it.
        self._sim_times = dict.fromkeys(range(simulators), clock.sim_epoch_s)
        self._granted: dict[int, float] = {}

    def exchange(
        self,
        simulator: int,
        returned: list[tuple[int, float]],
        want: int,
        sim_now_s: float | None = None,
    ) -> LeaseBatch:
        """Take back users (index, next available event time) and lease up to `want`.

        In backfill `sim_now_s` is the caller's simulated time: it emits nothing earlier
        from now on. `math.inf` means the caller is finished and holds nobody back.
        """
        self.calls += 1
        self._give_back(simulator, returned)
        if self._clock.backfill:
            return self._exchange_backfill(simulator, want, sim_now_s)
        if self._stopped:
            return LeaseBatch([], done=True)
        pool = self._pool
        now = self._clock.now()
        leases = self._lease(simulator, want, now)
        if leases:
            return LeaseBatch(leases)
        if not pool.free:
            return LeaseBatch([], wait_s=MAX_WAIT_S, done=not pool.holder)
        wait = self._clock.wall_span_s(pool.free[0][0] - now)
        return LeaseBatch([], wait_s=min(MAX_WAIT_S, max(wait, 0.01)))

    def _exchange_backfill(
        self, simulator: int, want: int, sim_now_s: float | None
    ) -> LeaseBatch:
        times = self._sim_times
        if sim_now_s is None:
            raise ValueError("A backfill exchange needs the caller's simulated time.")
        if sim_now_s == math.inf:
            times.pop(simulator, None)
            self._granted.pop(simulator, None)
        else:
            times[simulator] = max(times.get(simulator, sim_now_s), sim_now_s)
        # The caller may run ahead of the slowest of the others by max_skew_s. Their
        # times as last reported are lower bounds of where they are now, so the bound
        # holds however stale they are.
        slowest = min(
            (t for other, t in times.items() if other != simulator), default=math.inf
        )
        horizon = slowest + self._clock.max_skew_s
        if simulator in times:
            self._granted[simulator] = horizon
        if self._stopped:
            return LeaseBatch([], done=True, horizon_s=horizon, min_s=slowest)
        pool = self._pool
        # Users are leased in the order they become free, also ahead of the caller's
        # time: each lease says when its session may start, so one exchange serves
        # many sessions even when users, not slots, are scarce.
        leases = self._lease(simulator, want, math.inf)
        done = not leases and not pool.free and not pool.holder
        return LeaseBatch(
            leases,
            done=done,
            horizon_s=horizon,
            min_s=slowest,
            next_s=pool.free[0][0] if pool.free else math.inf,
        )

    def _lease(self, simulator: int, want: int, now: float) -> list[Lease]:
        """Up to `want` users free at event time `now`, longest free first.

        With several simulators one call takes at most its share of the free users, so
        a small pool is not hoarded by whoever asks first.
        """
        pool = self._pool
        if self._simulators > 1:
            want = min(want, max(1, len(pool.free) // self._simulators))
        leases: list[Lease] = []
        while pool.free and len(leases) < want and pool.free[0][0] <= now:
            available_s, index = heapq.heappop(pool.free)
            pool.holder[index] = simulator
            number = pool.sessions[index] = pool.sessions[index] + 1
            user = self._users[index] if number == 1 else self._ids[index]
            leases.append(Lease(index, number, user, available_s))
        self.sessions_leased += len(leases)
        return leases

    def release_simulator(self, simulator: int) -> int:
        """A simulator is gone: its users go back to the pool now. Returns how many."""
        lost = [i for i, holder in self._pool.holder.items() if holder == simulator]
        if self._clock.backfill:
            # Its sessions may have run up to the horizon it was granted; its users
            # are free from there (or from the end when it ran alone).
            now = min(self._granted.pop(simulator, math.inf), self._clock.end_s)
            self._sim_times.pop(simulator, None)
        else:
            now = self._clock.now()
        self._give_back(simulator, [(i, now) for i in lost])
        self.lost_simulators.append(simulator)
        if lost:
            logger.warning(
                "simulator %d lost: %d users back in the pool", simulator, len(lost)
            )
        return len(lost)

    def stop(self) -> None:
        """Lease nothing more; users still come back."""
        self._stopped = True

    def stats(self) -> dict[str, Any]:
        pool = self._pool
        return {
            "users": len(self._users),
            "leased": len(pool.holder),
            "free": len(pool.free),
            "retired": self._retired,
            "sessions_leased": self.sessions_leased,
            "calls": self.calls,
        }

    def _give_back(self, simulator: int, returned: list[tuple[int, float]]) -> None:
        pool = self._pool
        for index, available_at in returned:
            if pool.holder.get(index) != simulator:
                continue  # given back already (reported lost, then answered)
            del pool.holder[index]
            cap = pool.cap[index]
            if cap >= 0 and pool.sessions[index] >= cap:
                self._retired += 1
            else:
                heapq.heappush(pool.free, (available_at, index))

    def ping(self) -> float:
        return time.time()
