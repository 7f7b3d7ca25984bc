"""The script a user would otherwise write, against raysim: same broker, same cores.

One process per core, an asyncio loop each, a semaphore on concurrent shoppers, one
kafka-python producer per process (linger_ms=10, 32 KB batches, gzip), orjson values,
uuid4 ids and isoformat() times, the pauses removed. Its events are padded to raysim's
mean event size. Counted: events whose delivery the broker confirmed. raysim runs in the
same invocation, just before, with as many actors as the baseline has processes.

    python benchmarks/bench_baseline.py [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import orjson
import psutil
from _common import broker, machine, print_table, write_json
from _raysim import backfill_available, run_raysim

SECONDS = 20.0
CONCURRENT_USERS = 100
PAD_VARIANTS = 500
WORDS = (
    "blue cotton shirt fresh coffee beans olive oil yoga mat laptop sleeve phone case "
    "water bottle wall clock ankle boots lip tint serum mascara skillet knife vase "
    "sale new classic premium compact eco signature everyday pro lite"
).split()
EVENT_NAMES = ("page_view", "view_item", "view_item_list", "add_to_cart", "search")
CHANNELS = ("direct", "organic_search", "paid_search", "social", "email")
DEVICES = ("desktop", "mobile", "tablet")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _pads(extra: int, rng: random.Random) -> list[str]:
    """Filler text of about `extra` bytes, words rather than one repeated letter."""
    pads = []
    for _ in range(PAD_VARIANTS):
        words: list[str] = []
        size = 0
        while size < extra:
            word = rng.choice(WORDS)
            words.append(word)
            size += len(word) + 1
        pads.append(" ".join(words)[: max(0, extra)])
    return pads


def _session(user_id: str, rng: random.Random) -> list[tuple[str, dict]]:
    session_id = str(uuid.uuid4())
    channel = rng.choice(CHANNELS)
    events: list[tuple[str, dict]] = [
        (
            "marketings",
            {
                "event_id": str(uuid.uuid4()),
                "event_time": _now(),
                "user_id": user_id,
                "session_id": session_id,
                "channel": channel,
                "landing_page": "/",
            },
        )
    ]
    for number in range(rng.randint(3, 10)):
        events.append(
            (
                "behaviours",
                {
                    "event_id": str(uuid.uuid4()),
                    "event_time": _now(),
                    "user_id": user_id,
                    "session_id": session_id,
                    "event_name": rng.choice(EVENT_NAMES),
                    "sequence_number": number + 1,
                    "page": f"/products/{rng.randint(1, 200)}",
                    "price": round(rng.uniform(5, 500), 2),
                },
            )
        )
    events.append(
        (
            "sessions",
            {
                "event_id": str(uuid.uuid4()),
                "event_time": _now(),
                "user_id": user_id,
                "session_id": session_id,
                "device": rng.choice(DEVICES),
                "channel": channel,
                "page_views": len(events) - 1,
            },
        )
    )
    return events


def _mean_base_bytes() -> float:
    rng = random.Random(1)
    sizes = [
        len(orjson.dumps(record))
        for _ in range(300)
        for _, record in _session("u-0000001", rng)
    ]
    return sum(sizes) / len(sizes)


async def _produce_for(
    bootstrap: str,
    topics: dict[str, str],
    target_bytes: float,
    seconds: float,
    seed: int,
) -> dict[str, Any]:
    from kafka import KafkaProducer

    rng = random.Random(seed)
    pads = _pads(round(target_bytes - _mean_base_bytes() - 10), rng)
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=10,
        batch_size=32 * 1024,
        compression_type="gzip",
        value_serializer=orjson.dumps,
        key_serializer=str.encode,
    )
    counts = {"sent": 0, "delivered": 0, "failed": 0, "bytes": 0}

    def ok(_: Any) -> None:
        counts["delivered"] += 1

    def failed(_: Any) -> None:
        counts["failed"] += 1

    stop_at = time.perf_counter() + seconds
    semaphore = asyncio.Semaphore(CONCURRENT_USERS)

    async def shopper(user_id: str) -> None:
        async with semaphore:
            for topic, record in _session(user_id, rng):
                record["note"] = rng.choice(pads)
                future = producer.send(topics[topic], record, key=user_id)
                future.add_callback(ok)
                future.add_errback(failed)
                counts["sent"] += 1
                await asyncio.sleep(0)  # the pause, removed

    started = time.perf_counter()
    user = 0
    pending: set[asyncio.Task[None]] = set()
    while time.perf_counter() < stop_at:
        while len(pending) < CONCURRENT_USERS:
            user += 1
            task = asyncio.ensure_future(shopper(f"u-{seed:02d}{user:07d}"))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.sleep(0)
    await asyncio.gather(*pending)
    producer.flush(60)
    elapsed = time.perf_counter() - started
    producer.close(10)
    sample = _session("u-0000001", rng)[1][1]
    sample["note"] = pads[0]
    return {**counts, "elapsed_s": elapsed, "event_bytes": len(orjson.dumps(sample))}


def _process(args: tuple[str, dict[str, str], float, float, int]) -> dict[str, Any]:
    return asyncio.run(_produce_for(*args))


def run_baseline(
    bootstrap: str, target_bytes: float, seconds: float, processes: int
) -> dict[str, Any]:
    from _common import topic_names

    from raysim.sinks.admin import ensure_topics

    topics = topic_names("baseline")
    ensure_topics(bootstrap, {}, list(topics.values()), 6, 1)
    args = [(bootstrap, topics, target_bytes, seconds, i) for i in range(processes)]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        parts = pool.map(_process, args)
    delivered = sum(p["delivered"] for p in parts)
    elapsed = max(p["elapsed_s"] for p in parts)
    return {
        "processes": processes,
        "delivered": delivered,
        "failed": sum(p["failed"] for p in parts),
        "sent": sum(p["sent"] for p in parts),
        "elapsed_s": round(elapsed, 3),
        "events_per_s": round(delivered / elapsed, 1),
        "events_per_s_per_process": round(delivered / elapsed / processes, 1),
        "event_bytes": parts[0]["event_bytes"],
    }


def run(
    bootstrap: str,
    target_bytes: float,
    seconds: float = SECONDS,
    raysim: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Baseline on every core; raysim with as many actors (given, or measured now)."""
    processes = psutil.cpu_count(logical=False) or 1
    if raysim is None:
        mode = "backfill" if backfill_available()[0] else "accelerated"
        raysim = run_raysim(bootstrap, processes, mode, seconds)
    base = run_baseline(bootstrap, target_bytes, seconds, processes)
    per_actor = raysim["events_per_s_per_actor"]
    per_process = base["events_per_s_per_process"]
    return {
        "baseline_events_per_s": per_process,
        "baseline_run": base,
        "baseline_raysim_mode": raysim["mode"],
        "baseline_raysim_events_per_s_per_actor": per_actor,
        "baseline_ratio": round(per_actor / per_process, 2) if per_process else None,
    }


def rows(result: dict[str, Any]) -> list[tuple[str, Any, str]]:
    base = result["baseline_run"]
    return [
        (
            "baseline_events_per_s",
            result["baseline_events_per_s"],
            f"per process, {base['processes']} processes, "
            f"{base['event_bytes']} B events, {base['failed']} failed",
        ),
        (
            "baseline_ratio",
            result["baseline_ratio"],
            f"raysim per actor ({result['baseline_raysim_mode']}, "
            f"{result['baseline_raysim_events_per_s_per_actor']:,.0f}/s) over baseline "
            "per process; target >= 7",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=SECONDS)
    args = parser.parse_args()
    from bench_serialize import run as run_serialize

    target = run_serialize(sessions=8_000)["mean_event_bytes"]
    with broker() as bootstrap:
        result = run(bootstrap, target, args.seconds)
    print_table(
        "Baseline script against raysim (same broker, same cores)", rows(result)
    )
    write_json("baseline", {**result, "machine": machine()})


if __name__ == "__main__":
    main()
