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

from _common import broker, print_table, write_json
from _raysim import backfill_available, clock_overrides, local_core

SECONDS = 8.0
TOP = 18


def build(bootstrap: str, mode: str, extra: list[str]) -> tuple[Any, Any]:
    overrides = [
        "users.generate=50000",
        "simulation.concurrency=2000",
        *clock_overrides(mode),
        *extra,
    ]
    return local_core(bootstrap, "profile", overrides)


async def play(core: Any, seconds: float) -> dict[str, Any]:
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
