"""Ray shells around the plain Coordinator and SimulatorCore.

Only config crosses processes.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

import ray
import ray.exceptions

from raysim.clock import Clock
from raysim.config import Config
from raysim.model.catalog import Catalog
from raysim.runtime.coordinator import Coordinator, LeaseBatch
from raysim.runtime.loophealth import LoopLagProbe
from raysim.runtime.simulator import SimulatorCore
from raysim.sinks.kafka import KafkaSink

__all__ = [
    "CoordinatorActor",
    "SimulatorActor",
    "remote_coordinator",
    "remote_simulator",
]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

logger = logging.getLogger(__name__)

CONTROL_GROUP = "control"


class SimulatorActor:
    """One per physical core: one asyncio loop, one semaphore, one Kafka producer."""

    def __init__(
        self,
        index: int,
        config: Config,
        catalog: Catalog,
        clock: Clock,
        coordinator: Any,
        bootstrap: str,
    ) -> None:
        self._log_path = _log_to_file(config, index)
        self._coordinator = coordinator
        self.coordinator_lost: str | None = None
        self._sink = KafkaSink(
            bootstrap,
            config.kafka.topics.names(),
            config.kafka.producer,
            client_id=f"raysim-{config.name}-{index}",
        )
        self._probe = LoopLagProbe()
        self.core = SimulatorCore(
            index, config, catalog, clock, self._exchange, self._sink
        )

    async def _exchange(
        self,
        returned: list[tuple[int, float]],
        want: int,
        sim_now_s: float | None = None,
    ) -> LeaseBatch:
        if self.coordinator_lost is not None:
            return LeaseBatch([], done=True)
        try:
            return await self._coordinator.exchange.remote(
                self.core.index, returned, want, sim_now_s
            )
        except ray.exceptions.RayActorError as exc:
            # Without the coordinator no user can be leased safely: stop, close the
            # sessions in flight and flush, so that the counts stay whole.
            self.coordinator_lost = type(exc).__name__
            logger.error(
                "worker %d: coordinator lost (%s); stopping", self.core.index, exc
            )
            self.core.stop()
            return LeaseBatch([], done=True)

    async def run(self) -> dict[str, Any]:
        self._probe.start()
        try:
            await self.core.run()
        finally:
            await self._probe.stop()
        return self._stats()

    async def stop(self) -> None:
        self.core.stop()

    # NOTE: stats run on a loop of their own (Ray concurrency group), so that they
    # answer at once even while the sessions' loop is saturated.
    @ray.method(concurrency_group=CONTROL_GROUP)
    async def stats(self) -> dict[str, Any]:
        return self._stats()

    def _stats(self) -> dict[str, Any]:
        return {
            **self.core.stats(),
            **self._sink.health(),
            **self._probe.stats(),
            "coordinator_lost": self.coordinator_lost,
        }

    async def set_concurrency(self, concurrency: int) -> None:
        self.core.set_concurrency(concurrency)

    async def where(self) -> dict[str, Any]:
        return {
            "node_id": ray.get_runtime_context().get_node_id(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "log": str(self._log_path),
        }


class CoordinatorActor(Coordinator):
    """The coordinator as an actor; it reserves no CPU."""


def remote_coordinator() -> Any:
    return ray.remote(num_cpus=0, max_restarts=0)(CoordinatorActor)


def remote_simulator() -> Any:
    return ray.remote(
        num_cpus=1,
        max_restarts=0,
        max_concurrency=1000,
        concurrency_groups={CONTROL_GROUP: 1},
    )(SimulatorActor)


def _log_to_file(config: Config, index: int) -> Path:
    """Send this actor process's raysim logs to its own file in logging.dir."""
    log_dir = Path(config.logging.dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"{config.name}-actor-{index}.log"
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger("raysim")
    root.addHandler(handler)
    root.setLevel(config.logging.level)
    return path
