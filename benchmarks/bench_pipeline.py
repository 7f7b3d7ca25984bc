"""Full pipeline in one actor: Journey, orjson, librdkafka, a broker on loopback.

Every event is counted only once the broker confirmed it (the run's own report). The
clock is `backfill` when this raysim has it; otherwise the figure is left empty and an
accelerated run (speed 100,000) is measured instead, as the nearest thing that exists.

    python benchmarks/bench_pipeline.py [--seconds S]
"""

from __future__ import annotations

from typing import Any

from _common import main_on_broker
from _raysim import backfill_available, median_run, run_raysim
from bench_serialize import run as run_serialize

SECONDS = 20.0
KEY_BYTES = 10  # "u-0000001"-like keys of the generated users


def run(bootstrap: str, seconds: float = SECONDS) -> dict[str, Any]:
    sizes = run_serialize(sessions=8_000)
    mean_bytes = sizes["mean_event_bytes"]
    has_backfill, why = backfill_available()
    result: dict[str, Any] = {"mean_event_bytes": mean_bytes}
    if has_backfill:
        one, rates = median_run(bootstrap, 1, "backfill", seconds)
        if one["delivered"] and one["ok"]:
            rate = one["events_per_s_per_actor"]
            return {
                **result,
                "e2e_events_per_s_per_actor": rate,
                "e2e_mb_per_s_per_actor": round(rate * mean_bytes / 1e6, 2),
                "e2e_trials_events_per_s": rates,
                "e2e_run": one,
                "e2e_note": (
                    f"backfill clock, deliveries confirmed by the broker; median of "
                    f"{len(rates)} runs: {', '.join(f'{r:,.0f}' for r in rates)}"
                ),
            }
        why = (
            f"the backfill run did not complete: {one['delivered']} delivered, "
            f"ok={one['ok']}, lost actors {one['lost_actors']}, "
            f"errors {str(one['errors'])[:200]}"
        )
        result["e2e_backfill_run"] = one
    one = run_raysim(bootstrap, 1, "accelerated", seconds)
    rate = one["events_per_s_per_actor"]
    result.update(
        e2e_events_per_s_per_actor=None,
        e2e_mb_per_s_per_actor=None,
        e2e_note=why,
        e2e_accelerated_events_per_s_per_actor=rate,
        e2e_accelerated_mb_per_s_per_actor=round(rate * mean_bytes / 1e6, 2),
        e2e_run=one,
    )
    return result


def rows(result: dict[str, Any]) -> list[tuple[str, Any, str]]:
    run_ = result["e2e_run"]
    confirmed = f"{run_['delivered']:,} delivered, {run_['failed']} failed, " + (
        f"{run_['undelivered']} undelivered"
    )
    out = [
        (
            "e2e_events_per_s_per_actor",
            result["e2e_events_per_s_per_actor"],
            "target >= 100,000; " + (result.get("e2e_note") or ""),
        ),
        ("e2e_mb_per_s_per_actor", result["e2e_mb_per_s_per_actor"], "MB/s of values"),
        ("mean_event_bytes", result["mean_event_bytes"], "orjson value"),
    ]
    if "e2e_accelerated_events_per_s_per_actor" in result:
        out.append(
            (
                "e2e_accelerated_events_per_s_per_actor",
                result["e2e_accelerated_events_per_s_per_actor"],
                "accelerated x100,000 stand-in; " + confirmed,
            )
        )
    else:
        out.append(("e2e deliveries", run_["delivered"], confirmed))
    return out


if __name__ == "__main__":
    main_on_broker(__doc__, "pipeline", "Full pipeline, one actor", run, rows, SECONDS)
