"""Model and serialization: events built by Journey and encoded by orjson, one core.

python benchmarks/bench_serialize.py [--sessions N]
"""

from __future__ import annotations

import argparse
from typing import Any

import orjson
from _common import machine, print_table, write_json
from bench_model import SESSIONS, best_rate, make_model, play


def run(sessions: int = SESSIONS) -> dict[str, Any]:
    journey, users = make_model()
    sizes = [0, 0]

    def measure(record: dict) -> None:
        sizes[0] += len(orjson.dumps(record))
        sizes[1] += 1

    play(journey, users, sessions // 4, measure)
    dumps = orjson.dumps
    rate, _ = best_rate(lambda: play(journey, users, sessions, dumps))
    return {
        "model_serialize_events_per_s": round(rate, 1),
        "model_serialize_us_per_event": round(1e6 / rate, 3),
        "mean_event_bytes": round(sizes[0] / sizes[1], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=SESSIONS)
    args = parser.parse_args()
    result = run(args.sessions)
    print_table(
        "Model and serialization (one core, best of 3)",
        [
            (
                "model_serialize_events_per_s",
                result["model_serialize_events_per_s"],
                "",
            ),
            (
                "model_serialize_us_per_event",
                result["model_serialize_us_per_event"],
                "",
            ),
            ("mean_event_bytes", result["mean_event_bytes"], "orjson, value only"),
        ],
    )
    write_json("serialize", {**result, "machine": machine()})


if __name__ == "__main__":
    main()
