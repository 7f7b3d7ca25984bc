"""Every benchmark in one run and one broker: one table, benchmarks/results.json.

    python benchmarks/run_all.py [--seconds S] [--quick]

Figures that compare two things come from this one run. Nothing here is a test: no
figure is asserted; targets are printed next to the figures.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import bench_baseline
import bench_coordinator
import bench_first_event
import bench_model
import bench_pipeline
import bench_producer
import bench_realtime
import bench_scaling
import bench_serialize
import profile_pipeline
from _common import HERE, broker, machine, print_table
from _raysim import backfill_available

SECONDS = 20.0
RESULTS = HERE / "results.json"


def _skew(scaling: dict[str, Any]) -> tuple[float | None, str]:
    run = scaling.get("scaling_2_actor_run") or {}
    if scaling.get("scaling_mode") != "backfill":
        return None, "needs a backfill run; " + backfill_available()[1]
    skews = [a.get("max_skew_s") for a in run.get("per_actor", [])]
    skews = [s for s in skews if s is not None]
    if not skews:
        return None, "the backfill run reported no skew"
    return max(skews), "largest skew any of 2 actors saw, backfill run"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    args = parser.parse_args()
    seconds = 8.0 if args.quick else args.seconds
    started = time.time()
    results: dict[str, Any] = {}
    sections: list[tuple[str, list[tuple[str, Any, str]]]] = []

    model = bench_model.run(20_000 if args.quick else bench_model.SESSIONS)
    serial = bench_serialize.run(20_000 if args.quick else bench_serialize.SESSIONS)
    results.update(model, **serial)
    sections.append(
        (
            "Model, one core",
            [
                ("model_events_per_s", model["model_events_per_s"], "Journey only"),
                (
                    "model_serialize_events_per_s",
                    serial["model_serialize_events_per_s"],
                    "Journey + orjson",
                ),
            ],
        )
    )
    with broker() as bootstrap:
        pipeline = bench_pipeline.run(bootstrap, seconds)
        results.update(pipeline)
        sections.append(("Full pipeline, one actor", bench_pipeline.rows(pipeline)))

        scaling = bench_scaling.run(bootstrap, seconds, one=pipeline.get("e2e_run"))
        results.update(scaling)
        sections.append(("Scaling", bench_scaling.rows(scaling)))

        skew, note = _skew(scaling)
        results.update(max_skew_s=skew, max_skew_note=note)
        sections.append(
            ("Backfill skew", [("max_skew_s", skew, note + "; bound 60 s")])
        )

        baseline = bench_baseline.run(
            bootstrap,
            pipeline["mean_event_bytes"],
            seconds,
            raysim=scaling.get("scaling_2_actor_run"),
        )
        results.update(baseline)
        sections.append(("Baseline script", bench_baseline.rows(baseline)))

        coordinator = bench_coordinator.run(bootstrap, seconds)
        results.update(coordinator)
        sections.append(("Coordinator", bench_coordinator.rows(coordinator)))

        first = bench_first_event.run(bootstrap)
        results.update(first)
        sections.append(("Start-up", bench_first_event.rows(first)))

        realtime = bench_realtime.run(
            bootstrap, seconds=10.0 if args.quick else bench_realtime.SECONDS
        )
        results.update(realtime)
        sections.append(("Realtime capacity, one actor", bench_realtime.rows(realtime)))

        producer = bench_producer.run(
            bootstrap, 100_000 if args.quick else bench_producer.EVENTS
        )
        results.update(producer)
        sections.append(("Producer settings", bench_producer.rows(producer)))

        mode = "backfill" if pipeline["e2e_events_per_s_per_actor"] else "accelerated"
        profile = profile_pipeline.run(bootstrap, mode, min(seconds, 8.0))
        results["profile"] = profile
        sections.append(
            (
                f"Profile ({mode}, cProfile on), µs per event",
                [
                    (r["function"], r["own_us_per_event"], "own time")
                    for r in profile["top"][:10]
                ],
            )
        )

    results["machine"] = machine()
    results["run_s"] = round(time.time() - started, 1)
    results["seconds_per_timed_run"] = seconds
    for title, rows in sections:
        print_table(title, rows)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"\nwrote {RESULTS} in {results['run_s']} s")


if __name__ == "__main__":
    main()
