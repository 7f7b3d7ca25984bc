"""Realtime capacity of one actor: 10k and 100k sessions in flight.

Runs the actor's session loop (SimulatorCore with its KafkaSink, a broker on loopback)
in a fresh process per level, with the realtime clock, so sleeps are real. Measures,
once every session has started: memory per session in flight (RSS growth over the
sessions in flight), event-loop lag (how late a 10 ms timer fires, p50/p99/max) and how
late events are sent against their event time (p50/p99/max).

    python benchmarks/bench_realtime.py [--levels 10000,100000] [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import subprocess
import sys
import time
from typing import Any

import psutil
from _common import (
    HERE,
    broker,
    machine,
    print_table,
    write_json,
)
from _raysim import local_core

LEVELS = (10_000, 100_000)
SECONDS = 30.0
TICK_S = 0.010
SETTLE_S = 2.0
RAMP_TIMEOUT_S = 120.0
CHILD_TIMEOUT_S = 600


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class LatenessSink:
    """Passes events on to a sink and notes how late each is against its event time."""

    def __init__(self, sink: Any) -> None:
        self._sink = sink
        self.late_s: list[float] = []
        self.recording = False

    def send(self, topic: str, record: dict, time_s: float) -> bool:
        if self.recording:
            self.late_s.append(time.time() - time_s)
        return self._sink.send(topic, record, time_s)

    async def send_async(self, topic: str, record: dict, time_s: float) -> None:
        await self._sink.send_async(topic, record, time_s)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sink, name)


async def _measure(core: Any, sink: LatenessSink, level: int, seconds: float) -> dict:
    process = psutil.Process()
    gc.collect()
    rss_before = process.memory_info().rss
    run = asyncio.get_running_loop().create_task(core.run())
    ramp_started = time.perf_counter()
    # Ramped once every session has built its events and sent its first one.
    while core.sessions_started < level:
        if time.perf_counter() - ramp_started > RAMP_TIMEOUT_S:
            break
        await asyncio.sleep(0.1)
    ramp_s = time.perf_counter() - ramp_started
    in_flight = core.stats()["sessions_in_flight"]
    await asyncio.sleep(SETTLE_S)
    gc.collect()
    rss_ramped = process.memory_info().rss
    lags: list[float] = []
    sink.recording = True
    sent_before = core.stats()["topics"]
    deadline = time.perf_counter() + seconds
    low = in_flight
    while time.perf_counter() < deadline:
        expected = time.perf_counter() + TICK_S
        await asyncio.sleep(TICK_S)
        lags.append(max(0.0, time.perf_counter() - expected))
        low = min(low, core.stats()["sessions_in_flight"])
    sink.recording = False
    stats = core.stats()
    produced = sum(t["produced"] for t in stats["topics"].values()) - sum(
        t["produced"] for t in sent_before.values()
    )
    core.stop()
    final = await run
    delivered = sum(t["delivered"] for t in final["topics"].values())
    failed = sum(t["failed"] for t in final["topics"].values())
    late = sink.late_s
    return {
        "level": level,
        "sessions_in_flight": in_flight,
        "sessions_in_flight_min": low,
        "ramp_s": round(ramp_s, 2),
        "bytes_per_session": round((rss_ramped - rss_before) / max(1, in_flight)),
        "rss_mb": round(rss_ramped / 2**20, 1),
        "loop_lag_p50_ms": round(percentile(lags, 0.50) * 1000, 2),
        "loop_lag_p99_ms": round(percentile(lags, 0.99) * 1000, 2),
        "loop_lag_max_ms": round(max(lags) * 1000, 2),
        "events_per_s": round(produced / seconds, 1),
        "late_p50_ms": round((percentile(late, 0.50) or 0) * 1000, 2),
        "late_p99_ms": round((percentile(late, 0.99) or 0) * 1000, 2),
        "late_max_ms": round(max(late, default=0) * 1000, 2),
        "delivered": delivered,
        "failed": failed,
        "undelivered": final["undelivered"],
    }


def child(bootstrap: str, level: int, seconds: float) -> dict[str, Any]:
    overrides = [
        f"users.generate={level + level // 10}",
        f"simulation.concurrency={level}",
        "clock.mode=realtime",
        "clock.speed=1",
    ]
    core, sink = local_core(bootstrap, f"rt{level}", overrides, LatenessSink)
    return asyncio.run(_measure(core, sink, level, seconds))


def run_level(bootstrap: str, level: int, seconds: float) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(HERE / "bench_realtime.py"), "--child", bootstrap,
         "--levels", str(level), "--seconds", str(seconds)],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        return {"level": level, "error": done.stderr[-1500:]}
    return json.loads(lines[-1][len("RESULT ") :])


def run(
    bootstrap: str, levels: tuple[int, ...] = LEVELS, seconds: float = SECONDS
) -> dict[str, Any]:
    results = [run_level(bootstrap, level, seconds) for level in levels]
    top = results[-1]
    return {
        "realtime_levels": results,
        "sessions_in_flight_per_actor": top.get("sessions_in_flight"),
        "bytes_per_session": top.get("bytes_per_session"),
        "loop_lag_p50_ms": top.get("loop_lag_p50_ms"),
        "loop_lag_p99_ms": top.get("loop_lag_p99_ms"),
        "late_p99_ms": top.get("late_p99_ms"),
    }


def rows(result: dict[str, Any]) -> list[tuple[str, Any, str]]:
    out: list[tuple[str, Any, str]] = []
    for level in result["realtime_levels"]:
        n = f"{level['level'] // 1000}k"
        if "error" in level:
            out.append((f"realtime {n}", None, level["error"][-200:]))
            continue
        out += [
            (f"{n}: sessions_in_flight", level["sessions_in_flight"],
             f"min {level['sessions_in_flight_min']:,} while measured; "
             f"ramp {level['ramp_s']} s"),
            (f"{n}: bytes_per_session", level["bytes_per_session"],
             f"RSS growth per session; RSS {level['rss_mb']} MB; target <= 2048"),
            (f"{n}: loop_lag_p50_ms", level["loop_lag_p50_ms"], "10 ms timer"),
            (f"{n}: loop_lag_p99_ms", level["loop_lag_p99_ms"],
             f"max {level['loop_lag_max_ms']} ms; target <= 50"),
            (f"{n}: events late p50/p99 ms",
             f"{level['late_p50_ms']} / {level['late_p99_ms']}",
             f"max {level['late_max_ms']} ms; {level['events_per_s']:,.0f} events/s"),
        ]  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)))
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--child", metavar="BOOTSTRAP", help=argparse.SUPPRESS)
    args = parser.parse_args()
    levels = tuple(int(x) for x in args.levels.split(","))
    if args.child:
        print("RESULT " + json.dumps(child(args.child, levels[0], args.seconds)))
        return
    with broker() as bootstrap:
        result = run(bootstrap, levels, args.seconds)
    print_table("Realtime capacity, one actor's session loop", rows(result))
    write_json("realtime", {**result, "machine": machine()})


if __name__ == "__main__":
    main()
