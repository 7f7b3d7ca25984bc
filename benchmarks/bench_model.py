"""Model only: events per second that Journey builds on one core, no serialization.

python benchmarks/bench_model.py [--sessions N]
"""

from __future__ import annotations

import argparse
import gc
import time
from typing import Any

from _common import START_S, machine, print_table, write_json

from raysim.config import CatalogConfig, Range, StoreConfig, UsersConfig
from raysim.model.catalog import load_catalog
from raysim.model.journey import Journey
from raysim.model.users import load_users

USERS = 10_000
SESSIONS = 60_000
REPEATS = 3


def make_model(users: int = USERS, seed: int = 0) -> tuple[Journey, list[dict]]:
    """The journey and users a default run has: generated users and catalog."""
    catalog = load_catalog(CatalogConfig(), seed)
    journey = Journey(StoreConfig(), catalog, Range(60.0, 900.0), seed)
    return journey, load_users(UsersConfig(generate=users), seed).records


def play(journey: Journey, users: list[dict], sessions: int, sink: Any = None) -> int:
    """Build `sessions` sessions as a simulator would; hand each record to sink."""
    count = 0
    n_users = len(users)
    session = journey.session
    user_record = journey.user_record
    for number in range(sessions):
        user = users[number % n_users]
        session_number = number // n_users + 1
        start_s = START_S + number * 0.5
        events = session(user, session_number, start_s)
        if session_number == 1:
            events.insert(0, user_record(user, start_s))
        count += len(events)
        if sink is not None:
            for _, _, record in events:
                sink(record)
    return count


def best_rate(fn: Any, repeats: int = REPEATS) -> tuple[float, int]:
    """The best of `repeats` timed calls of fn() -> events: (events/s, events)."""
    best = 0.0
    events = 0
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        events = fn()
        rate = events / (time.perf_counter() - started)
        best = max(best, rate)
    return best, events


def run(sessions: int = SESSIONS) -> dict[str, Any]:
    journey, users = make_model()
    rate, events = best_rate(lambda: play(journey, users, sessions))
    return {
        "model_events_per_s": round(rate, 1),
        "model_us_per_event": round(1e6 / rate, 3),
        "events_per_session": round(events / sessions, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=SESSIONS)
    args = parser.parse_args()
    result = run(args.sessions)
    print_table(
        "Model only (one core, best of 3)",
        [
            ("model_events_per_s", result["model_events_per_s"], "events/s"),
            ("model_us_per_event", result["model_us_per_event"], "µs"),
            ("events_per_session", result["events_per_session"], ""),
        ],
    )
    write_json("model", {**result, "machine": machine()})


if __name__ == "__main__":
    main()
