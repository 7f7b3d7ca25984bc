"""Coordinator calls per 100 sessions started, counted by the simulators themselves.

Measured on the quickstart experiment (accelerated x60, 200 sessions in flight per
actor, 2,000 users) with every core's actor, against a broker on loopback.

    python benchmarks/bench_coordinator.py [--seconds S]
"""

from __future__ import annotations

from typing import Any

import psutil
from _common import main_on_broker
from _raysim import run_raysim

SECONDS = 20.0


def per_100(run: dict[str, Any]) -> float | None:
    started = run["sessions_started"]
    return round(run["coordinator_calls"] / started * 100, 3) if started else None


def run(bootstrap: str, seconds: float = SECONDS) -> dict[str, Any]:
    actors = psutil.cpu_count(logical=False) or 1
    quick = run_raysim(
        bootstrap, actors, "config", seconds, concurrency=200, users=2000
    )
    return {
        "coordinator_calls_per_100_sessions": per_100(quick),
        "coordinator_calls": quick["coordinator_calls"],
        "coordinator_sessions_started": quick["sessions_started"],
        "coordinator_run": quick,
    }


def rows(result: dict[str, Any]) -> list[tuple[str, Any, str]]:
    return [
        (
            "coordinator_calls_per_100_sessions",
            result["coordinator_calls_per_100_sessions"],
            f"{result['coordinator_calls']:,} calls for "
            f"{result['coordinator_sessions_started']:,} sessions; target <= 1",
        )
    ]


if __name__ == "__main__":
    main_on_broker(__doc__, "coordinator", "Coordinator load", run, rows, SECONDS)
