"""Backfill: simulated time from clock.start to clock.end as fast as the CPUs allow."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from raysim.clock import Clock, Lateness
from raysim.config import (
    CatalogConfig,
    ClockConfig,
    Config,
    Range,
    SimulationConfig,
    UsersConfig,
    load_config,
)
from raysim.errors import ConfigError
from raysim.model.catalog import load_catalog
from raysim.model.invariants import check_invariants
from raysim.model.timefmt import format_time
from raysim.model.users import load_users
from raysim.runtime.coordinator import Coordinator
from raysim.runtime.simulator import SimulatorCore
from raysim.sinks.memory import MemorySink

ROOT = Path(__file__).resolve().parents[1]
START = datetime(2026, 1, 1, tzinfo=timezone.utc)
START_S = START.timestamp()
DAY_S = 86_400.0


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return [p.replace(str(path), path.name) for p in info.value.problems]


# Config


def test_backfill_config_reads_start_end_and_default_skew(tmp_path):
    config = load_config(
        write(
            tmp_path,
            "clock:\n  mode: backfill\n  start: 2026-01-01T00:00:00Z\n"
            "  end: '2026-01-31T00:00:00'\n",
        )
    )
    clock = config.clock
    assert clock.mode == "backfill"
    assert clock.start == START
    assert clock.end == datetime(2026, 1, 31, tzinfo=timezone.utc)
    assert clock.max_skew_s == 60


def test_backfill_config_is_implied_by_an_end(tmp_path):
    config = load_config(
        write(tmp_path, "clock: {start: 2026-01-01, end: 2026-01-02, max_skew_s: 5}\n")
    )
    assert (config.clock.mode, config.clock.max_skew_s) == ("backfill", 5)


def test_backfill_config_needs_start_and_end(tmp_path):
    found = problems(write(tmp_path, "clock:\n  mode: backfill\n"))
    assert found == [
        "exp.yaml:1: clock.start: is required when clock.mode is backfill (an ISO "
        "8601 date-time such as 2026-11-01T00:00:00Z)",
        "exp.yaml:1: clock.end: is required when clock.mode is backfill (an ISO "
        "8601 date-time such as 2026-12-01T00:00:00Z)",
    ]


def test_backfill_config_refuses_an_end_not_after_the_start(tmp_path):
    path = write(
        tmp_path,
        "clock:\n  mode: backfill\n  start: 2026-01-02T00:00:00Z\n"
        "  end: 2026-01-01T00:00:00Z\n",
    )
    with pytest.raises(
        ConfigError,
        match=r"exp\.yaml:4: clock\.end: must be after clock\.start "
        r"\(2026-01-02T00:00:00\+00:00\), got '2026-01-01T00:00:00\+00:00'",
    ):
        load_config(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "clock: {mode: backfill, start: 2026-01-01, end: 2026-01-02, speed: 60}\n",
            "exp.yaml:1: clock.speed: applies only when clock.mode is accelerated; "
            "backfill runs as fast as the CPUs allow, got 60",
        ),
        (
            "clock: {mode: backfill, start: 2026-01-01, end: 2026-01-02, "
            "max_skew_s: 0}\n",
            "exp.yaml:1: clock.max_skew_s: must be a number > 0, got 0",
        ),
        (
            "clock: {mode: accelerated, speed: 60, end: 2026-01-02}\n",
            "exp.yaml:1: clock.end: applies only when clock.mode is backfill, "
            "got '2026-01-02'",
        ),
        (
            "clock: {mode: realtime, max_skew_s: 10}\n",
            "exp.yaml:1: clock.max_skew_s: applies only when clock.mode is backfill, "
            "got 10",
        ),
        (
            "clock: {mode: backfill, start: 2026-01-01, end: soon}\n",
            "exp.yaml:1: clock.end: must be an ISO 8601 date-time such as "
            "2026-11-27T00:00:00Z, got 'soon'",
        ),
    ],
    ids=["speed", "skew-zero", "end-accelerated", "skew-realtime", "end-malformed"],
)
def test_backfill_config_refuses_contradictions_in_one_line(tmp_path, text, expected):
    assert problems(write(tmp_path, text)) == [expected]


def test_backfill_shipped_config_runs_thirty_days():
    config = load_config(ROOT / "configs" / "backfill-30d.yaml")
    assert config.clock.mode == "backfill"
    assert (config.clock.end - config.clock.start).days == 30
    assert config.duration_s is None
    assert 0 < config.clock.max_skew_s <= 3600
    assert config.users.generate >= 10_000


# The loop without Ray: SimulatorCore, MemorySink and a Coordinator on one loop.


def make_config(users=300, concurrency=20, **simulation):
    return Config(
        seed=11,
        users=UsersConfig(generate=users),
        catalog=CatalogConfig(generate=40),
        simulation=SimulationConfig(
            concurrency=concurrency,
            session_duration_s=simulation.pop("session_duration_s", Range(60, 900)),
            gap_s=simulation.pop("gap_s", Range(600, 7200)),
            **simulation,
        ),
    )


def backfill_clock(hours=24.0, max_skew_s=60.0):
    config = ClockConfig(
        mode="backfill",
        start=START,
        end=datetime.fromtimestamp(START_S + hours * 3600, timezone.utc),
        max_skew_s=max_skew_s,
    )
    return Clock.start(config)


def make_cores(config, clock, count=1, sinks=None):
    records = load_users(config.users, config.seed).records
    coordinator = Coordinator(
        records, clock, config.simulation.sessions_per_user, 7, simulators=count
    )
    catalog = load_catalog(config.catalog, config.seed)
    cores = []
    for index in range(count):

        async def exchange(returned, want, sim_now_s=None, index=index):
            return coordinator.exchange(index, returned, want, sim_now_s)

        sink = sinks[index] if sinks else MemorySink()
        cores.append(SimulatorCore(index, config, catalog, clock, exchange, sink))
    return cores, coordinator


def run_alone(core, timeout_s=60.0):
    async def scenario():
        return await asyncio.wait_for(core.run(), timeout_s)

    return asyncio.run(scenario())


def overlapping_at_most(sessions):
    """The most sessions open at once, in simulated time (an end frees its slot)."""
    moments = [(s["started_at"], 1) for s in sessions]
    moments += [(s["ended_at"], -1) for s in sessions]
    moments.sort()  # at the same instant the end (-1) sorts before the start (+1)
    most = current = 0
    for _, step in moments:
        current += step
        most = max(most, current)
    return most


def test_backfill_of_a_day_ends_by_itself_inside_the_window():
    sink = MemorySink()
    clock = backfill_clock(hours=24)
    (core,), coordinator = make_cores(make_config(), clock, sinks=[sink])
    final = run_alone(core)

    assert final["state"] == "stopped"
    assert final["sim_time"] == "2026-01-02T00:00:00.000Z"
    assert final["sessions_in_flight"] == 0
    times = [time_s for _, _, time_s in sink.events]
    assert times == sorted(times)  # emitted in simulated-time order
    assert START_S <= times[0] and times[-1] <= clock.end_s
    first, last = format_time(START_S), format_time(clock.end_s)
    for topic, record, _ in sink.events:
        assert first <= record["event_time"] <= last, topic
    by_topic = sink.by_topic()
    assert check_invariants(by_topic) == []
    assert len(by_topic["sessions"]) == final["sessions_started"] > 300
    assert final["sessions_cut"] > 0  # sessions open at the end close at the end
    assert (
        final["sessions_completed"] + final["sessions_cut"] == final["sessions_started"]
    )
    closed_at_end = [s for s in by_topic["sessions"] if s["ended_at"] == last]
    assert len(closed_at_end) == final["sessions_cut"]
    assert coordinator.stats()["leased"] == 0
    assert final["behind_s_max"] is None and final["max_skew_s"] == 0


def test_backfill_keeps_concurrency_in_simulated_time():
    sink = MemorySink()
    config = make_config(users=2000, concurrency=25, gap_s=Range(0, 60))
    (core,), _ = make_cores(config, backfill_clock(hours=12), sinks=[sink])
    final = run_alone(core)
    sessions = sink.by_topic()["sessions"]
    assert overlapping_at_most(sessions) == 25  # users are plenty: slots stay full
    assert final["sessions_started"] > 25 * 12 * 3600 / 900
    # one exchange serves many sessions
    assert final["exchanges"] * 100 <= final["sessions_started"]


def test_backfill_with_few_users_waits_for_their_gaps():
    sink = MemorySink()
    config = make_config(users=10, concurrency=50, gap_s=Range(3600, 7200))
    (core,), _ = make_cores(config, backfill_clock(hours=24), sinks=[sink])
    final = run_alone(core)
    by_topic = sink.by_topic()
    assert check_invariants(by_topic) == []
    assert overlapping_at_most(by_topic["sessions"]) <= 10
    # each user shops at most once per (session + gap): about 24 / 2 times a day
    assert 10 * 24 / (2 + 0.25) <= final["sessions_started"] <= 10 * 24 / 1 + 10
    starts = sorted(s["started_at"] for s in by_topic["sessions"])
    assert starts[-1] > format_time(START_S + 20 * 3600)  # all day long


def test_backfill_same_seed_same_sessions():
    counts = []
    for _ in range(2):
        sink = MemorySink()
        (core,), _ = make_cores(make_config(), backfill_clock(hours=6), sinks=[sink])
        final = run_alone(core)
        counts.append((final["sessions_started"], len(sink.events)))
    assert counts[0] == counts[1]


def test_backfill_ends_early_when_every_user_is_done():
    config = make_config(users=30, sessions_per_user=Range(2, 2))
    sink = MemorySink()
    (core,), coordinator = make_cores(
        config, backfill_clock(hours=24 * 30), sinks=[sink]
    )
    started = time.monotonic()
    final = run_alone(core)
    assert time.monotonic() - started < 10
    assert final["sessions_started"] == 60
    assert coordinator.stats()["retired"] == 30
    assert check_invariants(sink.by_topic()) == []


def test_backfill_stop_closes_sessions_at_the_current_simulated_time():
    sink = MemorySink()
    (core,), coordinator = make_cores(
        make_config(users=5000, concurrency=200),
        backfill_clock(hours=24 * 365),
        sinks=[sink],
    )

    async def scenario():
        task = asyncio.create_task(core.run())
        await asyncio.sleep(0.3)
        during = core.stats()
        core.stop()
        return during, await asyncio.wait_for(task, 10)

    during, final = asyncio.run(scenario())
    assert during["state"] == "running" and during["sessions_in_flight"] == 200
    assert final["sessions_cut"] == 200
    assert final["sim_time"] < "2027"
    by_topic = sink.by_topic()
    assert check_invariants(by_topic) == []
    assert len(by_topic["sessions"]) == len(by_topic["marketings"])
    assert coordinator.stats()["leased"] == 0


class SlowSink(MemorySink):
    """Refuses every third send, as a full producer queue does."""

    def __init__(self):
        super().__init__()
        self.refused = 0

    def send(self, topic, record, time_s):
        if (len(self.events) + self.refused) % 3 == 0:
            self.refused += 1
            return False
        return super().send(topic, record, time_s)


def test_backfill_waits_out_backpressure_and_keeps_order():
    sink = SlowSink()
    (core,), _ = make_cores(make_config(), backfill_clock(hours=6), sinks=[sink])
    run_alone(core)
    assert sink.refused > 100
    times = [time_s for _, _, time_s in sink.events]
    assert times == sorted(times)
    assert check_invariants(sink.by_topic()) == []


class WatchedSink(MemorySink):
    """Records, for each event, how far it is ahead of the other simulator's time.

    The other simulator's time is how far it has sent everything; so this is the skew
    a consumer of both would see. `pause_every` > 0 makes this simulator the slow one.
    """

    def __init__(self, pause_every=0):
        super().__init__()
        self.pause_every = pause_every
        self.other = None
        self.leads = []
        self._held = False

    def send(self, topic, record, time_s):
        if self.pause_every and len(self.events) % self.pause_every == 0:
            if not self._held:
                self._held = True
                return False
        self._held = False
        if self.other is not None:
            self.leads.append(time_s - self.other.sim_time_s)
        return super().send(topic, record, time_s)

    async def send_async(self, topic, record, time_s):
        await asyncio.sleep(0.001)
        while not self.send(topic, record, time_s):
            await asyncio.sleep(0)


def test_backfill_two_simulators_stay_within_max_skew():
    skew_bound = 60.0
    sinks = [WatchedSink(), WatchedSink(pause_every=20)]  # the second one lags
    config = make_config(users=3000, concurrency=40)
    clock = backfill_clock(hours=24, max_skew_s=skew_bound)
    cores, coordinator = make_cores(config, clock, count=2, sinks=sinks)
    sinks[0].other, sinks[1].other = cores[1], cores[0]

    async def scenario():
        return await asyncio.wait_for(
            asyncio.gather(*(core.run() for core in cores)), 120
        )

    finals = asyncio.run(scenario())
    leads = sinks[0].leads + sinks[1].leads
    assert len(leads) > 1000
    assert max(leads) <= skew_bound
    assert max(sinks[0].leads) > skew_bound / 2  # the fast one ran ahead, to the bound
    assert all(0 <= f["max_skew_s"] <= skew_bound for f in finals)
    assert finals[0]["max_skew_s"] > skew_bound / 2
    assert finals[0]["skew_waits"] > 0
    for sink in sinks:
        times = [time_s for _, _, time_s in sink.events]
        assert times == sorted(times)
        assert times[-1] <= clock.end_s
    both = {
        topic: sinks[0].by_topic().get(topic, []) + sinks[1].by_topic().get(topic, [])
        for topic in ("users", "marketings", "sessions", "orders", "behaviours")
    }
    assert check_invariants(both) == []  # no user in two sessions at once anywhere
    assert coordinator.stats()["leased"] == 0
    assert all(f["sim_time"] == "2026-01-02T00:00:00.000Z" for f in finals)


# Lateness of realtime and accelerated events


def test_lateness_reports_max_and_p99():
    late = Lateness()
    for _ in range(980):
        late.record(-0.5)  # early: on time
    for _ in range(15):
        late.record(0.010)
    for _ in range(5):
        late.record(2.0)
    assert late.max_s == 2.0
    assert 0.010 <= late.quantile(0.99) <= 0.012
    assert late.quantile(0.5) <= 0.001
    assert late.quantile(1.0) == 2.0
    assert Lateness().quantile(0.99) == 0.0


# A whole run: Ray actors and a real broker process on loopback.


@pytest.mark.ray
@pytest.mark.kafka
def test_backfill_run_delivers_a_few_hours_and_ends_by_itself(
    ray_session, broker, fresh_topics, tmp_path
):
    from raysim import Simulation
    from raysim.config import TOPIC_KEYS
    from raysim.verify import read_topics, verify

    names = fresh_topics.names()
    overrides = [
        f"kafka.bootstrap_servers={broker}",
        f"logging.dir={tmp_path / 'logs'}",
        *(f"kafka.topics.{key}={names[key]}" for key in TOPIC_KEYS),
        "users.generate=3000",
        "simulation.actors=2",
        "simulation.concurrency=100",
        "clock.end=2026-11-01T03:00:00Z",
        "clock.max_skew_s=60",
    ]
    sim = Simulation.from_yaml(ROOT / "configs" / "backfill-30d.yaml", overrides)
    started = time.monotonic()
    report = sim.run()
    assert time.monotonic() - started < 90

    assert report["ok"] is True
    for name, counts in report["topics"].items():
        assert counts["failed"] == 0, name
        assert counts["produced"] == counts["delivered"] > 0, name
    assert report["actors"] == 2
    assert report["clock"]["sim_time"] == "2026-11-01T03:00:00.000Z"
    assert 0 <= report["max_skew_s"] <= 60
    assert report["clock"]["max_skew_s"] == 60
    assert report["behind_s_max"] is None
    assert report["sessions"]["cut"] > 0  # closed at the end, not by a stop
    expected = {key: report["topics"][name]["delivered"] for key, name in names.items()}
    result = verify(broker, fresh_topics, expected=expected)
    assert result.problems == []
    assert result.counts == expected
    records = read_topics(broker, fresh_topics)
    first, last = "2026-11-01T00:00:00.000Z", "2026-11-01T03:00:00.000Z"
    for topic, rows in records.items():
        for row in rows:
            assert first <= row.value["event_time"] <= last, topic
