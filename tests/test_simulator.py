"""The session loop on a plain asyncio loop: a local coordinator, a recording sink."""

import asyncio
import dataclasses
import time

from raysim.clock import Clock
from raysim.config import (
    CatalogConfig,
    Config,
    Range,
    SimulationConfig,
    ThrottleConfig,
    UsersConfig,
)
from raysim.model.catalog import load_catalog
from raysim.model.invariants import check_invariants
from raysim.model.journey import Journey
from raysim.model.users import load_users
from raysim.runtime import simulator
from raysim.runtime.coordinator import Coordinator
from raysim.runtime.simulator import SimulatorCore
from raysim.sinks.memory import MemorySink

SPEED = 3600.0  # an hour of shopping per wall second


def make_config(**simulation):
    sim = SimulationConfig(
        concurrency=simulation.pop("concurrency", 20),
        session_duration_s=simulation.pop("session_duration_s", Range(60, 900)),
        gap_s=simulation.pop("gap_s", Range(60, 600)),
        throttle=simulation.pop("throttle", ThrottleConfig(min_concurrency=2)),
        **simulation,
    )
    return Config(
        seed=7,
        users=UsersConfig(generate=200),
        catalog=CatalogConfig(generate=40),
        simulation=sim,
    )


def make_core(config, sink, read_cpu=lambda: 10.0, users=None):
    clock = Clock(time.time(), 1_767_225_600.0, SPEED)
    records = users or load_users(config.users, config.seed).records
    coordinator = Coordinator(records, clock, config.simulation.sessions_per_user, 7)

    async def exchange(returned, want):
        return coordinator.exchange(0, returned, want)

    catalog = load_catalog(config.catalog, config.seed)
    core = SimulatorCore(0, config, catalog, clock, exchange, sink, read_cpu)
    return core, coordinator


async def run_for(core, seconds, probe=None):
    task = asyncio.create_task(core.run())
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if probe is not None:
            probe(core.stats())
        await asyncio.sleep(0.01)
    core.stop()
    return await task


def test_simulator_streams_sessions_that_keep_the_invariants():
    sink = MemorySink()
    core, _ = make_core(make_config(), sink)
    final = asyncio.run(run_for(core, 1.5))
    by_topic = sink.by_topic()
    assert final["sessions_started"] > 50
    assert set(by_topic) == {
        "users",
        "marketings",
        "sessions",
        "behaviours",
        "orders",
    } or (set(by_topic) >= {"users", "marketings", "sessions", "behaviours"})
    assert check_invariants(by_topic) == []
    assert len(by_topic["sessions"]) == final["sessions_started"]
    assert final["sessions_in_flight"] == 0


def test_simulator_keeps_sessions_in_flight_at_the_semaphore_limit():
    seen = []
    core, _ = make_core(make_config(concurrency=5), MemorySink())
    asyncio.run(
        run_for(core, 1.0, probe=lambda s: seen.append(s["sessions_in_flight"]))
    )
    assert max(seen) == 5
    assert sum(1 for n in seen if n == 5) > len(seen) / 2


def test_simulator_starts_sessions_as_slots_free_not_in_waves():
    sink = MemorySink()
    core, _ = make_core(make_config(concurrency=4), sink)
    asyncio.run(run_for(core, 1.5))
    starts = [r["started_at"] for r in sink.by_topic()["sessions"]]
    # In waves, groups of four would share a start; here almost every start is its own.
    assert len(starts) > 12
    assert len(set(starts)) >= 0.9 * len(starts)


def test_simulator_stop_closes_sessions_in_flight():
    sink = MemorySink()
    long = Range(3600, 7200)  # one to two wall seconds each
    core, coordinator = make_core(make_config(session_duration_s=long), sink)
    final = asyncio.run(run_for(core, 0.5))
    by_topic = sink.by_topic()
    assert final["sessions_cut"] > final["sessions_completed"]
    assert (
        final["sessions_cut"] + final["sessions_completed"] == final["sessions_started"]
    )
    assert len(by_topic["sessions"]) == len(by_topic["marketings"])
    assert check_invariants(by_topic) == []
    assert coordinator.stats()["leased"] == 0


def test_sleeping_sessions_rebuild_exactly_the_records_they_dropped(monkeypatch):
    # Every session drops its records after each event and builds them again when
    # the next one is due; what goes out must be what the model gives.
    monkeypatch.setattr(simulator, "HOLD_S", -1.0)
    sink = MemorySink()
    config = make_config()
    core, _ = make_core(config, sink)
    final = asyncio.run(run_for(core, 1.5))
    by_topic = sink.by_topic()
    assert final["sessions_completed"] > 20
    assert check_invariants(by_topic) == []
    users = {u["user_id"]: u for u in load_users(config.users, config.seed).records}
    journey = Journey(
        config.store,
        load_catalog(config.catalog, config.seed),
        config.simulation.session_duration_s,
        config.seed,
    )
    sent_ids: dict[str, list[str]] = {}
    for topic, record, _ in sink.events:
        if topic != "users":
            sent_ids.setdefault(record["session_id"], []).append(record["event_id"])
    complete = 0
    for session in by_topic["sessions"]:
        user = users[session["user_id"]]
        # Ids are drawn from the user and session number alone, not the start time.
        model = journey.session(user, session["session_number"], 0.0)
        model_ids = [record["event_id"] for _, _, record in model]
        assert set(sent_ids[session["session_id"]]) <= set(model_ids)
        if session["events"] == sum(1 for _, t, _ in model if t == "behaviours"):
            assert sent_ids[session["session_id"]] == model_ids
            complete += 1
    assert complete >= final["sessions_completed"]


class FlakySink(MemorySink):
    """Refuses every other send, as a full producer queue does."""

    def __init__(self):
        super().__init__()
        self.refused = 0

    def send(self, topic, record, time_s):
        if self.refused <= len(self.events):
            self.refused += 1
            return False
        return super().send(topic, record, time_s)


def test_simulator_retries_the_same_event_on_backpressure():
    sink = FlakySink()
    core, _ = make_core(make_config(), sink)
    asyncio.run(run_for(core, 1.0))
    assert sink.refused > 10
    assert check_invariants(sink.by_topic()) == []


def test_simulator_throttles_when_cpu_is_saturated():
    seen = []
    throttle = ThrottleConfig(cpu_percent=90, min_concurrency=3, interval_s=0.05)
    core, _ = make_core(
        make_config(concurrency=24, throttle=throttle),
        MemorySink(),
        read_cpu=lambda: 99.0,
    )
    final = asyncio.run(
        run_for(core, 0.6, probe=lambda s: seen.append(s["concurrency"]))
    )
    assert final["concurrency"] == 3
    assert final["throttled"] == 3  # 24 -> 12 -> 6 -> 3
    assert max(seen) == 24


def test_simulator_concurrency_changes_live():
    seen = []
    core, _ = make_core(make_config(concurrency=4), MemorySink())

    async def scenario():
        task = asyncio.create_task(core.run())
        await asyncio.sleep(0.3)
        core.set_concurrency(12)
        for _ in range(50):
            seen.append(core.stats()["sessions_in_flight"])
            await asyncio.sleep(0.01)
        core.stop()
        return await task

    asyncio.run(scenario())
    assert max(seen) == 12


def test_simulator_ends_when_every_user_is_done():
    config = make_config(sessions_per_user=Range(1, 1))
    config = dataclasses.replace(config, users=UsersConfig(generate=30))
    sink = MemorySink()
    core, coordinator = make_core(config, sink)

    async def scenario():
        return await asyncio.wait_for(core.run(), timeout=10)

    final = asyncio.run(scenario())
    assert final["sessions_started"] == 30
    assert len(sink.by_topic()["users"]) == 30
    assert coordinator.stats()["retired"] == 30
