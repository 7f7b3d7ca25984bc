"""Running raysim itself for a benchmark: the real Simulation, actors and producers."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from typing import Any

import psutil
from _common import ROOT, topic_names

from raysim.config import load_config
from raysim.errors import ConfigError

QUICKSTART = ROOT / "configs" / "quickstart.yaml"
BACKFILL_START = "2026-01-01T00:00:00Z"
BACKFILL_END = "2026-03-01T00:00:00Z"  # far enough that a timed run never reaches it
ACCELERATED_SPEED = 100_000  # a 15-minute visit lasts 9 ms of wall time
USERS = 50_000
CONCURRENCY = 2_000
# The machine is shared: one run's figure can move by a third from one minute to the
# next, so throughput figures are the median of this many runs.
TRIALS = 3


def backfill_overrides() -> list[str]:
    return [
        "clock.mode=backfill",
        "clock.speed=1",
        f"clock.start={BACKFILL_START}",
        f"clock.end={BACKFILL_END}",
    ]


def backfill_available() -> tuple[bool, str]:
    """Whether this raysim accepts clock.mode: backfill, and why not if it does not."""
    try:
        load_config(str(QUICKSTART), backfill_overrides())
    except ConfigError as exc:
        return False, f"clock.mode: backfill is not in this raysim yet ({exc})"[:300]
    return True, ""


def clock_overrides(mode: str) -> list[str]:
    if mode == "backfill":
        return backfill_overrides()
    if mode == "config":
        return []  # the clock of configs/quickstart.yaml
    if mode == "accelerated":
        return ["clock.mode=accelerated", f"clock.speed={ACCELERATED_SPEED}"]
    raise ValueError(
        f"mode must be 'backfill', 'accelerated' or 'config', got {mode!r}."
    )


def ensure_ray(num_cpus: int | None = None) -> None:
    import ray

    if not ray.is_initialized():
        # "local": a Ray of our own, never another run's instance on this machine.
        ray.init(
            address="local",
            num_cpus=num_cpus or psutil.cpu_count(),
            namespace="raysim-bench",
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )


def overrides_for(
    bootstrap: str,
    actors: int,
    mode: str,
    seconds: float,
    concurrency: int = CONCURRENCY,
    users: int = USERS,
    extra: list[str] | tuple[str, ...] = (),
) -> list[str]:
    names = topic_names(f"a{actors}")
    logs = tempfile.mkdtemp(prefix="raysim-bench-logs-")
    return [
        f"name=bench-{actors}",
        f"kafka.bootstrap_servers={bootstrap}",
        f"duration_s={seconds}",
        f"users.generate={users}",
        f"simulation.actors={actors}",
        f"simulation.concurrency={concurrency}",
        # Benchmarks measure what a core can do: the CPU throttle would halve the load.
        "simulation.throttle.cpu_percent=100",
        f"logging.dir={logs}",
        "logging.level=WARNING",
        *(f"kafka.topics.{key}={name}" for key, name in names.items()),
        *clock_overrides(mode),
        *extra,
    ]


def run_raysim(
    bootstrap: str,
    actors: int,
    mode: str,
    seconds: float,
    concurrency: int = CONCURRENCY,
    users: int = USERS,
    extra: list[str] | tuple[str, ...] = (),
) -> dict[str, Any]:
    """One timed raysim run on the local Ray; figures from its own report."""
    from raysim.simulation import Simulation

    ensure_ray()
    overrides = overrides_for(
        bootstrap, actors, mode, seconds, concurrency, users, extra
    )
    sim = Simulation.from_yaml(str(QUICKSTART), overrides)
    started = time.perf_counter()
    report = sim.run()
    elapsed = time.perf_counter() - started
    topics = report["topics"]
    produced = sum(t["produced"] for t in topics.values())
    delivered = sum(t["delivered"] for t in topics.values())
    failed = sum(t["failed"] for t in topics.values())
    per_actor = report["per_actor"]
    sessions = sum(a.get("sessions_started", 0) for a in per_actor)
    exchanges = sum(a.get("exchanges", 0) for a in per_actor)
    wall = report["wall_s"]
    return {
        "mode": mode,
        "actors": report["actors"],
        "wall_s": wall,
        "elapsed_s": round(elapsed, 3),
        "produced": produced,
        "delivered": delivered,
        "failed": failed,
        "undelivered": report["undelivered"],
        "ok": report.get("ok"),
        "lost_actors": report.get("lost_actors"),
        "errors": report.get("errors"),
        "events_per_s": round(delivered / wall, 1) if wall else 0.0,
        "events_per_s_per_actor": round(delivered / wall / report["actors"], 1)
        if wall
        else 0.0,
        "sessions_started": sessions,
        "coordinator_calls": exchanges,
        "per_actor": [
            {
                k: a.get(k)
                for k in (
                    "index",
                    "sessions_started",
                    "exchanges",
                    "undelivered",
                    "skew_s",
                    "max_skew_s",
                    "behind_s",
                    "sim_time_s",
                )
                if k in a
            }
            for a in per_actor
        ],
        "report_extra": {
            k: v
            for k, v in report.items()
            if k not in ("topics", "per_actor", "sessions", "lost_actors")
        },
    }


def median_run(
    bootstrap: str, actors: int, mode: str, seconds: float, trials: int = TRIALS
) -> tuple[dict[str, Any], list[float]]:
    """The run with the median throughput of `trials`, and every run's events/s."""
    runs = [run_raysim(bootstrap, actors, mode, seconds) for _ in range(trials)]
    runs.sort(key=lambda run: run["events_per_s"])
    return runs[len(runs) // 2], [run["events_per_s"] for run in runs]


def local_core(
    bootstrap: str,
    label: str,
    overrides: list[str],
    wrap_sink: Callable[[Any], Any] = lambda sink: sink,
) -> tuple[Any, Any]:
    """One actor's SimulatorCore and KafkaSink in this process, with a local
    coordinator instead of a Ray actor: the session loop alone, for profiling.

    `wrap_sink` may put something between the core and the KafkaSink; returns the
    core and the sink it sends to.
    """
    from raysim.clock import Clock
    from raysim.model.catalog import load_catalog
    from raysim.model.users import load_users
    from raysim.runtime.coordinator import Coordinator
    from raysim.runtime.simulator import SimulatorCore
    from raysim.sinks.admin import ensure_topics
    from raysim.sinks.kafka import KafkaSink

    names = topic_names(label)
    config = load_config(
        str(QUICKSTART),
        [
            f"kafka.bootstrap_servers={bootstrap}",
            "simulation.throttle.cpu_percent=100",
            *(f"kafka.topics.{k}={v}" for k, v in names.items()),
            *overrides,
        ],
    )
    ensure_topics(bootstrap, {}, list(names.values()), 6, 1)
    users = load_users(config.users, config.seed)
    catalog = load_catalog(config.catalog, config.seed)
    clock = Clock.start(config.clock)
    coordinator = Coordinator(
        users.records, clock, config.simulation.sessions_per_user, config.seed
    )

    async def exchange(*args: Any) -> Any:
        return coordinator.exchange(0, *args)

    sink = wrap_sink(KafkaSink(bootstrap, names, config.kafka.producer))
    return SimulatorCore(0, config, catalog, clock, exchange, sink), sink
