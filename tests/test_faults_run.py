"""Faults inside a run, on the shared Ray runtime and broker: actors and the coordinator
lost, a full producer queue, notebook interrupts, leaks, loop health and placement.

Each test ends with the count check of tests/faults/common.py.
"""

from __future__ import annotations

import _thread
import os
import signal
import statistics
import threading
import time
import uuid

import pytest
import ray
from faults.common import (
    QUICKSTART,
    count_check,
    overlapping_sessions,
    topic_overrides,
)

from raysim import Simulation
from raysim.config import TOPIC_KEYS, TopicsConfig
from raysim.errors import ConfigError
from raysim.verify import read_topics

pytestmark = [pytest.mark.ray, pytest.mark.kafka]

RELEASE_TIMEOUT_S = 15.0
LAG_KEYS = ("lag_p99_ms", "lag_max_ms", "lag_samples", "cpu_percent", "throttled")


@pytest.fixture
def fresh_topics_2() -> TopicsConfig:
    suffix = uuid.uuid4().hex[:12]
    return TopicsConfig(**{key: f"{key}-{suffix}" for key in TOPIC_KEYS})


def simulation(broker, topics, tmp_path, *extra):
    return Simulation.from_yaml(
        QUICKSTART, [*topic_overrides(broker, topics, tmp_path / "logs"), *extra]
    )


def raysim_actors_alive():
    from ray._private import state

    return [
        a
        for a in state.actors().values()
        if a["State"] != "DEAD"
        and a["ActorClassName"].rsplit(".", 1)[-1]
        in ("SimulatorActor", "CoordinatorActor")
    ]


def wait_for_released_cpus():
    """After a stop every CPU comes back and no raysim actor is alive."""
    deadline = time.monotonic() + RELEASE_TIMEOUT_S
    while time.monotonic() < deadline:
        if (
            ray.available_resources().get("CPU", 0) == ray.cluster_resources()["CPU"]
            and not raysim_actors_alive()
        ):
            return
        time.sleep(0.2)
    pytest.fail(
        f"after stop: {ray.available_resources()} free of "
        f"{ray.cluster_resources()}; alive: {raysim_actors_alive()}"
    )


def wait_for_sessions(sim, at_least, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stats = sim.stats()
        if all(a.get("sessions_started", 0) >= at_least for a in stats["per_actor"]):
            return stats
        time.sleep(0.2)
    pytest.fail(f"actors did not start {at_least} sessions: {sim.stats()}")


@pytest.mark.parametrize("how", ["ray.kill", "kill -9"])
def test_lost_actor_run_goes_on_users_go_back_no_user_twice(
    ray_session, broker, fresh_topics, tmp_path, how
):
    sim = simulation(broker, fresh_topics, tmp_path, "duration_s=10")
    sim.start()
    wait_for_sessions(sim, 50)
    if how == "ray.kill":
        ray.kill(sim._actors[0])
    else:
        os.kill(sim.placement[0]["pid"], signal.SIGKILL)
    killed_at = sim.stats()
    report = sim.run()

    assert report["ok"] is False
    assert list(report["lost_actors"]) == ["0"]
    lost, survivor = report["per_actor"]
    assert lost["lost"] and lost["users_returned"] > 0
    assert survivor["state"] == "stopped" and "lost" not in survivor
    before = killed_at["per_actor"][1]["sessions_started"]
    assert survivor["sessions_started"] > before, "the run did not go on"
    records = read_topics(broker, fresh_topics)
    assert overlapping_sessions(records) == []
    names = fresh_topics.names()
    for _key, name in names.items():
        counts = survivor["topics"][name]
        assert counts["produced"] == counts["delivered"] + counts["failed"], name
    count_check(
        f"simulator actor lost ({how})",
        broker,
        fresh_topics,
        report,
        "run went on; users returned; exit 1",
        exact=False,
        records=records,
    )


def test_coordinator_lost_stops_the_run_with_whole_counts_and_an_error(
    ray_session, broker, fresh_topics, tmp_path
):
    sim = simulation(broker, fresh_topics, tmp_path, "duration_s=30")
    sim.start()
    wait_for_sessions(sim, 50)
    ray.kill(sim._coordinator)
    started = time.monotonic()
    report = sim.run()

    assert time.monotonic() - started < 15, "the run did not stop"
    assert report["ok"] is False
    assert report["lost_actors"] == {}
    assert len(report["errors"]) == 1 and "coordinator was lost" in report["errors"][0]
    assert all(a["state"] == "stopped" for a in report["per_actor"])
    count_check("coordinator lost", broker, fresh_topics, report, "run stopped; exit 1")


def test_tiny_producer_queue_waits_and_drops_nothing(
    ray_session, broker, fresh_topics, tmp_path
):
    report = simulation(
        broker,
        fresh_topics,
        tmp_path,
        "duration_s=6",
        "kafka.producer.queue.buffering.max.messages=20",
    ).run()

    assert report["ok"] is True
    assert sum(a["backpressure_waits"] for a in report["per_actor"]) > 0
    count_check(
        "producer queue full (20 messages)",
        broker,
        fresh_topics,
        report,
        "back-pressure; exit 0",
    )


def test_interrupting_a_blocking_run_stops_and_flushes_then_nothing_leaks(
    ray_session, broker, fresh_topics, fresh_topics_2, tmp_path
):
    sim = simulation(broker, fresh_topics, tmp_path, "duration_s=120")
    timer = threading.Timer(6, _thread.interrupt_main)
    timer.start()
    started = time.monotonic()
    try:
        report = sim.run()
    finally:
        timer.cancel()

    assert time.monotonic() - started < 30
    assert sim.state == "stopped" and report["ok"] is True
    count_check(
        "notebook: run() interrupted", broker, fresh_topics, report, "stopped, flushed"
    )
    wait_for_released_cpus()

    again = simulation(broker, fresh_topics_2, tmp_path, "duration_s=4").run()
    assert again["ok"] is True
    assert again["wall_s"] < 10
    count_check(
        "notebook: next experiment after stop()",
        broker,
        fresh_topics_2,
        again,
        "no leaked actors, fresh counts",
    )
    wait_for_released_cpus()


def test_starting_a_second_experiment_stops_the_first(
    ray_session, broker, fresh_topics, fresh_topics_2, tmp_path
):
    first = simulation(broker, fresh_topics, tmp_path)
    first.start()
    wait_for_sessions(first, 10)
    second = simulation(broker, fresh_topics_2, tmp_path)
    second.start()
    assert first.state == "stopped" and first.report["ok"] is True
    time.sleep(2)
    report = second.stop()
    assert report["ok"] is True
    count_check(
        "notebook: cell re-run while running",
        broker,
        fresh_topics,
        first.report,
        "earlier run stopped, flushed",
    )
    count_check(
        "notebook: cell re-run while running",
        broker,
        fresh_topics_2,
        report,
        "earlier run stopped, flushed",
    )
    wait_for_released_cpus()


def test_loop_lag_and_stats_stay_fast_in_a_heavy_run(
    ray_session, broker, fresh_topics, tmp_path
):
    sim = simulation(
        broker,
        fresh_topics,
        tmp_path,
        "duration_s=12",
        "users.generate=20000",
        "simulation.concurrency=800",
        "simulation.gap_s={min: 60, max: 120}",
        "simulation.session_duration_s={min: 10, max: 60}",
        "clock.speed=40",
        "simulation.throttle.interval_s=0.2",
    )
    sim.start()
    latencies = []
    time.sleep(2)
    while sim.state == "running" and time.time() - sim._started_wall < 11:
        began = time.perf_counter()
        stats = sim.stats()
        latencies.append(time.perf_counter() - began)
        time.sleep(0.25)
    rate = stats["events_per_s"]
    report = sim.stop()

    # NOTE: timings on a shared two-core machine are figures, not pass marks: the
    # 100 ms targets are measured here and published in docs/reliability.md. The
    # bounds below only catch a loop that something blocks for whole seconds.
    assert rate > 1000, f"not a heavy run: {rate} events/s"
    assert report["ok"] is True
    slowest_ms = max(latencies) * 1000
    median_ms = statistics.median(latencies) * 1000
    assert median_ms < 1000, (median_ms, slowest_ms)
    for actor in report["per_actor"]:
        # The probe ran through the throttle's samples and the final flush.
        assert actor["lag_samples"] > 100
        assert actor["lag_p99_ms"] < 1000, {k: actor[k] for k in LAG_KEYS}
    count_check(
        "heavy run: loop lag and stats()",
        broker,
        fresh_topics,
        report,
        f"{rate:,.0f} events/s; stats() median {median_ms:.0f} ms, max "
        f"{slowest_ms:.0f} ms; loop lag p99 "
        f"{max(a['lag_p99_ms'] for a in report['per_actor']):.0f} ms, max "
        f"{report['loop_lag_max_ms']:.0f} ms",
    )


def test_more_actors_than_cpus_is_a_clear_error_and_starts_nothing(
    ray_session, broker, fresh_topics, tmp_path
):
    sim = simulation(broker, fresh_topics, tmp_path, "simulation.actors=3")
    with pytest.raises(ConfigError, match=r"3 actors need 3 CPUs, but the Ray .* 2;"):
        sim.start()
    assert sim.state == "failed"
    wait_for_released_cpus()
