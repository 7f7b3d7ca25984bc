"""Where the time of an event goes: the session loop in-process, under cProfile.

The same SimulatorCore, Coordinator and KafkaSink an actor runs, without Ray, against a
broker on loopback, so the profile sees every Python frame. Prints µs per event by
function (own time) and writes benchmarks/out/profile.json.

    python benchmarks/profile_pipeline.py [--seconds S] [--mode accelerated|backfill]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
from typing import Any

from _common import QUICKSTART_PATH, broker, print_table, topic_names, write_json
from _raysim import backfill_available, clock_overrides

from raysim.clock import Clock
from raysim.config import load_config
from raysim.model.catalog import load_catalog
from raysim.model.users import load_users
from raysim.runtime.coordinator import Coordinator
from raysim.runtime.simulator import SimulatorCore
from raysim.sinks.admin import ensure_topics
from raysim.sinks.kafka import KafkaSink

SECONDS = 8.0
TOP = 18


def build(bootstrap: str, mode: str, extra: list[str]) -> tuple[SimulatorCore, Any]:
    names = topic_names("profile")
    config = load_config(
        str(QUICKSTART_PATH),
        [
            f"kafka.bootstrap_servers={bootstrap}",
            "users.generate=50000",
            "simulation.concurrency=2000",
            "simulation.throttle.cpu_percent=100",
            *(f"kafka.topics.{k}={v}" for k, v in names.items()),
            *clock_overrides(mode),
            *extra,
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

    sink = KafkaSink(bootstrap, names, config.kafka.producer)
    return SimulatorCore(0, config, catalog, clock, exchange, sink), coordinator


async def play(core: SimulatorCore, seconds: float) -> dict[str, Any]:
    task = asyncio.get_running_loop().create_task(core.run())
    await asyncio.sleep(seconds)
    core.stop()
    return await task


def run(bootstrap: str, mode: str, seconds: float) -> dict[str, Any]:
    core, _ = build(bootstrap, mode, [])
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    stats = asyncio.run(play(core, seconds))
    profiler.disable()
    wall = time.perf_counter() - started
    delivered = sum(t["delivered"] for t in stats["topics"].values())
    table = pstats.Stats(profiler)
    rows = []
    total = 0.0
    for (path, line, name), (_, calls, own, cum, _) in table.stats.items():
        total += own
        rows.append((own, cum, calls, f"{path.split('/')[-1]}:{line}({name})"))
    rows.sort(reverse=True)
    top = [
        {
            "function": where,
            "calls": calls,
            "own_us_per_event": round(own / delivered * 1e6, 3),
            "cum_us_per_event": round(cum / delivered * 1e6, 3),
        }
        for own, cum, calls, where in rows[:TOP]
    ]
    return {
        "mode": mode,
        "delivered": delivered,
        "wall_s": round(wall, 3),
        "events_per_s_profiled": round(delivered / wall, 1),
        "profiled_us_per_event": round(total / delivered * 1e6, 3),
        "top": top,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--mode", default=None)
    args = parser.parse_args()
    mode = args.mode or ("backfill" if backfill_available()[0] else "accelerated")
    with broker() as bootstrap:
        result = run(bootstrap, mode, args.seconds)
    print_table(
        f"Profile of the session loop ({mode}, in-process, cProfile on), µs per event",
        [
            (r["function"], r["own_us_per_event"], f"cum {r['cum_us_per_event']}")
            for r in result["top"]
        ]
        + [("total profiled", result["profiled_us_per_event"], "µs per event")],
    )
    write_json("profile", result)


if __name__ == "__main__":
    main()
