"""The user pool: the one place that knows which users are in a session anywhere.

Simulators lease users in batches and hand them back in batches, so the coordinator is
never on the per-event or per-session path. A plain class; `runtime.remote` makes it an
actor.
"""

from __future__ import annotations

import heapq
import logging
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
    """One user handed to one simulator for one session."""

    index: int
    session_number: int  # 1 for the user's first session in the run
    user: dict[str, Any]


@dataclass(frozen=True)
class LeaseBatch:
    leases: list[Lease]
    wait_s: float = 0.0  # no user is free: ask again after this many wall seconds
    done: bool = False  # every user has had all its sessions: stop asking


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
    ) -> None:
        if not users:
            raise ValueError("Coordinator needs at least one user.")
        self._users = users
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

    def exchange(
        self, simulator: int, returned: list[tuple[int, float]], want: int
    ) -> LeaseBatch:
        """Take back users (index, next available event time) and lease up to `want`."""
        self.calls += 1
        self._give_back(simulator, returned)
        if self._stopped:
            return LeaseBatch([], done=True)
        pool = self._pool
        now = self._clock.now()
        leases: list[Lease] = []
        while pool.free and len(leases) < want and pool.free[0][0] <= now:
            _, index = heapq.heappop(pool.free)
            pool.holder[index] = simulator
            pool.sessions[index] += 1
            leases.append(Lease(index, pool.sessions[index], self._users[index]))
        self.sessions_leased += len(leases)
        if leases:
            return LeaseBatch(leases)
        if not pool.free:
            return LeaseBatch([], wait_s=MAX_WAIT_S, done=not pool.holder)
        wait = self._clock.wall_span_s(pool.free[0][0] - now)
        return LeaseBatch([], wait_s=min(MAX_WAIT_S, max(wait, 0.01)))

    def release_simulator(self, simulator: int) -> int:
        """A simulator is gone: its users go back to the pool now. Returns how many."""
        lost = [i for i, holder in self._pool.holder.items() if holder == simulator]
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

    def stats(self) -> dict[str, int]:
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
                continue  # already given back (a simulator reported lost, then answered)
            del pool.holder[index]
            cap = pool.cap[index]
            if cap >= 0 and pool.sessions[index] >= cap:
                self._retired += 1
            else:
                heapq.heappush(pool.free, (available_at, index))

    def ping(self) -> float:
        return time.time()
