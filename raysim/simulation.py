"""The driver behind the CLI and notebooks: starts a run, watches it, stops it.

It also turns what the actors report into the run report.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
import weakref
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, ClassVar

import psutil
import ray

from raysim.clock import Clock
from raysim.config import Config, load_config
from raysim.errors import ConfigError
from raysim.model.catalog import load_catalog
from raysim.model.timefmt import format_time
from raysim.model.users import load_users
from raysim.runtime.actors import remote_coordinator, remote_simulator
from raysim.runtime.placement import pinned, plan_actors
from raysim.sinks.admin import check_reachable, ensure_topics
from raysim.sinks.embedded import EmbeddedBroker

logger = logging.getLogger(__name__)
report_logger = logging.getLogger("raysim.report")

__all__ = ["Simulation"]

STATS_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 60.0
READY_TIMEOUT_S = 60.0
# A broker that does not answer within this is an error before Ray or any actor starts.
BROKER_CHECK_TIMEOUT_S = 5.0
# Delivered counts that stand still this long (plus linger.ms) while events wait in the
# producers' queues mean the broker is not answering.
STALL_AFTER_S = 2.0
WAIT_SLICE_S = 0.1
EXIT_FORCED = 130  # 128 + SIGINT, as shells report an interrupted command
SIGNALS = (signal.SIGINT, signal.SIGTERM)  # the ones a run stops on


class Simulation:
    """One run of an experiment: `start()` returns at once, `stop()` a report."""

    _active: ClassVar[weakref.WeakSet[Simulation]] = weakref.WeakSet()

    def __init__(self, config: Config) -> None:
        self.config = config
        self.state = "new"
        self.bootstrap: str | None = None
        self.report: dict[str, Any] | None = None
        self._broker: EmbeddedBroker | None = None
        self._coordinator: Any = None
        self._actors: list[Any] = []
        self._runs: list[Any] = []
        self._finals: dict[int, dict[str, Any]] = {}
        self._last: dict[int, dict[str, Any]] = {}
        self._lost: dict[int, str] = {}
        self._started_wall: float | None = None
        self._started_at: str | None = None
        self._interrupts = 0
        self._released: dict[int, int | None] = {}
        self._errors: list[str] = []
        self._coordinator_lost: str | None = None
        self._ping: Any = None
        self._moved: tuple[float, int] = (time.time(), 0)

    @classmethod
    def from_yaml(
        cls, path: str, overrides: list[str] | tuple[str, ...] = ()
    ) -> Simulation:
        return cls(load_config(str(path), list(overrides)))

    def start(self) -> Simulation:
        """Load inputs, reach Kafka, start the actors; returns as soon as they run."""
        if self.state != "new":
            raise RuntimeError(
                f"Simulation already {self.state}; create a new one to run again."
            )
        for other in list(Simulation._active):
            if other is not self and other.state == "running":
                logger.warning(
                    "stopping the earlier simulation %r first", other.config.name
                )
                other.stop()
        self.state = "starting"
        try:
            self._start()
        except BaseException:
            self._teardown()
            self.state = "failed"
            raise
        self.state = "running"
        Simulation._active.add(self)
        return self

    def _start(self) -> None:
        cfg = self.config
        users = load_users(cfg.users, cfg.seed)
        catalog = load_catalog(cfg.catalog, cfg.seed)
        if cfg.kafka.bootstrap_servers == "embedded":
            self._connect_ray()
            self._refuse_embedded_on_cluster()
            self._broker = EmbeddedBroker()
            self.bootstrap = self._broker.start()
        else:
            # NOTE: the broker is checked before Ray starts, so that an unreachable one
            # is an error within seconds and leaves no process behind.
            self.bootstrap = cfg.kafka.bootstrap_servers
            check_reachable(
                self.bootstrap, cfg.kafka.producer, timeout_s=BROKER_CHECK_TIMEOUT_S
            )
            self._connect_ray()
            create = cfg.kafka.create_topics
            if create.enabled:
                ensure_topics(
                    self.bootstrap,
                    cfg.kafka.producer,
                    list(cfg.kafka.topics.names().values()),
                    create.partitions,
                    create.replication_factor,
                )
        plan = plan_actors(cfg.simulation.actors, cfg.source)
        clock = Clock.start(cfg.clock)
        self._coordinator = remote_coordinator().remote(
            users.records,
            clock,
            cfg.simulation.sessions_per_user,
            cfg.seed,
            simulators=sum(slots.actors for slots in plan),
        )
        simulator = remote_simulator()
        for slots in plan:
            for _ in range(slots.actors):
                index = len(self._actors)
                self._actors.append(
                    simulator.options(scheduling_strategy=pinned(slots.node_id)).remote(
                        index, cfg, catalog, clock, self._coordinator, self.bootstrap
                    )
                )
        self.placement = ray.get(
            [a.where.remote() for a in self._actors], timeout=READY_TIMEOUT_S
        )
        self._started_wall = time.time()
        self._moved = (self._started_wall, 0)
        self._started_at = _utc_now()
        self._runs = [a.run.remote() for a in self._actors]
        logger.info(
            "%s: %s on %s, %d users, %d products, Kafka at %s",
            cfg.name,
            _count(len(self._actors), "actor"),
            _count(len(plan), "node"),
            len(users.records),
            len(catalog.products),
            self.bootstrap,
        )

    def stats(self) -> dict[str, Any]:
        """Counts per topic, sessions in flight, rate, and the same per actor."""
        self._collect(timeout_s=STATS_TIMEOUT_S)
        self._watch_coordinator()
        return self._summary()

    def set(self, concurrency: int | None = None) -> None:
        """Change a running simulation without a restart."""
        if self.state != "running":
            raise RuntimeError(
                f"Simulation is {self.state}; set() needs a running one."
            )
        if concurrency is not None:
            if isinstance(concurrency, bool) or not isinstance(concurrency, int):
                raise TypeError(f"concurrency must be an int, got {concurrency!r}.")
            if concurrency < 1:
                raise ValueError(f"concurrency must be >= 1, got {concurrency}.")
            ray.get([a.set_concurrency.remote(concurrency) for a in self._live()])

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> dict[str, Any]:
        """Stop starting sessions, close those in flight, flush; return the report."""
        if self.state in ("stopped", "failed") and self.report is not None:
            return self.report
        if self.state != "running":
            raise RuntimeError(f"Simulation is {self.state}; nothing to stop.")
        self.state = "stopping"
        report_logger.info(
            "%s: stopping: closing sessions in flight and flushing", self.config.name
        )
        for actor in self._live():
            actor.stop.remote()
        self._collect_finals(timeout_s)
        # Actors that lost the coordinator stop on their own, maybe before the driver
        # noticed: their final stats say so.
        noticed = [f.get("coordinator_lost") for f in self._finals.values()]
        if self._coordinator_lost is None and any(noticed):
            self._lose_coordinator(next(why for why in noticed if why))
        self.report = self._summary(final=True)
        self._teardown()
        self.state = "stopped"
        logger.info("%s: stopped", self.config.name)
        return self.report

    def run(
        self,
        progress: Callable[[dict[str, Any]], None] | None = None,
        handle_signals: bool = False,
    ) -> dict[str, Any]:
        """Start; run until duration_s, all users are done or an interrupt; stop."""
        previous = self._install_signal_handlers() if handle_signals else None
        try:
            if self.state == "new":
                self.start()
            duration = self.config.duration_s
            assert self._started_wall is not None
            while self._interrupts == 0:
                elapsed = time.time() - self._started_wall
                if duration is not None and elapsed >= duration:
                    break
                wait = 1.0 if duration is None else min(1.0, duration - elapsed)
                if self._wait_for_actors(wait) or self._watch_coordinator():
                    break
                if progress is not None and self._interrupts == 0:
                    progress(self.stats())
            return self.stop()
        except KeyboardInterrupt:
            if self.state != "running":
                raise
            logger.warning("interrupted: stopping and flushing")
            return self.stop()
        finally:
            if previous is not None:
                for signum, handler in previous.items():
                    signal.signal(signum, handler)

    def _wait_for_actors(self, timeout_s: float) -> bool:
        """Wait up to timeout_s; True once every actor has finished or been lost."""
        deadline = time.time() + max(0.0, timeout_s)
        while True:
            pending = [
                r
                for i, r in enumerate(self._runs)
                if i not in self._finals and i not in self._lost
            ]
            if not pending:
                return True
            remaining = deadline - time.time()
            if remaining <= 0 or self._interrupts:
                return False
            for ref in self._wait_slice(pending, remaining):
                self._settle(self._runs.index(ref), ref)

    def _settle(self, index: int, ref: Any) -> None:
        try:
            self._finals[index] = ray.get(ref)
        except ray.exceptions.RayError as exc:
            if index not in self._lost:
                self._lose(index, type(exc).__name__, exc)

    def _lose(self, index: int, why: str, detail: Any) -> None:
        """An actor is gone: the run goes on without it; its users go back."""
        self._lost[index] = why
        logger.error("worker %d lost: %s", index, detail)
        try:
            self._released[index] = ray.get(
                self._coordinator.release_simulator.remote(index),
                timeout=STATS_TIMEOUT_S,
            )
        except ray.exceptions.RayError as exc:
            self._released[index] = None
            self._watch_coordinator(exc)

    def _watch_coordinator(self, failure: Exception | None = None) -> bool:
        """True once the coordinator is lost; then every actor is told to stop.

        Without it no user can be leased without risking two sessions at once, so the
        run ends: the actors close their sessions and flush, and the report says why.
        """
        if self._coordinator_lost is not None:
            return True
        if failure is None and self._coordinator is not None:
            if self._ping is None:
                self._ping = self._coordinator.ping.remote()
            ready, _ = ray.wait([self._ping], timeout=0)
            if not ready:
                return False
            try:
                ray.get(self._ping)
                self._ping = None
                return False
            except ray.exceptions.RayError as exc:
                failure = exc
        if failure is None:
            return False
        self._lose_coordinator(type(failure).__name__)
        return True

    def _lose_coordinator(self, why: str) -> None:
        self._coordinator_lost = why
        message = (
            f"the coordinator was lost ({why}); the run was "
            "stopped: every actor closed its sessions and flushed, so the counts are "
            "whole"
        )
        self._errors.append(message)
        logger.error("%s: %s", self.config.name, message)
        for actor in self._live():
            actor.stop.remote()

    def _live(self) -> list[Any]:
        return [a for i, a in enumerate(self._actors) if i not in self._lost]

    def _collect(self, timeout_s: float) -> None:
        refs = {
            i: a.stats.remote()
            for i, a in enumerate(self._actors)
            if i not in self._lost
        }
        for index, ref in refs.items():
            if index in self._finals:
                continue
            try:
                self._last[index] = ray.get(ref, timeout=timeout_s)
            except ray.exceptions.GetTimeoutError:
                logger.warning(
                    "worker %d did not answer stats within %.0f s", index, timeout_s
                )
            except ray.exceptions.RayError:
                self._settle(index, self._runs[index])

    def _collect_finals(self, timeout_s: float) -> None:
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            pending = [
                r
                for i, r in enumerate(self._runs)
                if i not in self._finals and i not in self._lost
            ]
            if not pending:
                return
            for ref in self._wait_slice(pending, deadline - time.time()):
                self._settle(self._runs.index(ref), ref)
        for index in range(len(self._runs)):
            if index not in self._finals and index not in self._lost:
                self._lose(
                    index,
                    "did not stop in time",
                    f"did not stop within {timeout_s:.0f} s",
                )

    def _wait_slice(self, refs: list[Any], timeout_s: float) -> list[Any]:
        """Those of refs that are done, after waiting at most one short slice.

        NOTE: Python runs signal handlers only between calls into Ray; short waits keep
        a second Ctrl+C from waiting behind a long one (or merging with the first).
        """
        slice_s = min(WAIT_SLICE_S, max(0.0, timeout_s))
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=slice_s)
        return ready

    def _summary(self, final: bool = False) -> dict[str, Any]:
        cfg = self.config
        per_actor = []
        for i in range(len(self._actors)):
            stats = dict(self._finals.get(i) or self._last.get(i) or {"index": i})
            if i in self._lost:
                stats["lost"] = self._lost[i]
                stats["users_returned"] = self._released.get(i)
            per_actor.append(stats)
        names = list(cfg.kafka.topics.names().values())
        topics = {name: {"produced": 0, "delivered": 0, "failed": 0} for name in names}
        sessions = {"started": 0, "completed": 0, "cut": 0, "in_flight": 0}
        undelivered = 0
        lost_unconfirmed = 0
        queued = 0
        for stats in per_actor:
            unconfirmed = sum(
                c["produced"] - c["delivered"] - c["failed"]
                for c in stats.get("topics", {}).values()
            )
            if "lost" in stats:
                lost_unconfirmed += unconfirmed
            else:
                queued += unconfirmed
            for name, counts in stats.get("topics", {}).items():
                for key, value in counts.items():
                    topics.setdefault(
                        name, {"produced": 0, "delivered": 0, "failed": 0}
                    )
                    topics[name][key] += value
            sessions["started"] += stats.get("sessions_started", 0)
            sessions["completed"] += stats.get("sessions_completed", 0)
            sessions["cut"] += stats.get("sessions_cut", 0)
            sessions["in_flight"] += stats.get("sessions_in_flight", 0)
            undelivered += stats.get("undelivered", 0)
        now = time.time()
        wall = now - self._started_wall if self._started_wall else 0.0
        delivered = sum(t["delivered"] for t in topics.values())
        if delivered != self._moved[1] or not queued:
            self._moved = (now, delivered)
        stalled_s = now - self._moved[0]
        linger_s = float(cfg.kafka.producer.get("linger.ms", 0) or 0) / 1000
        summary: dict[str, Any] = {
            "name": cfg.name,
            "seed": cfg.seed,
            "actors": len(self._actors),
            "started_at": self._started_at,
            "ended_at": _utc_now() if final else None,
            "wall_s": round(wall, 3),
            "events_per_s": round(delivered / wall, 1) if wall > 0 else 0.0,
            "topics": topics,
            "sessions": sessions,
            "undelivered": undelivered,
            "queued": queued,
            "stalled_s": round(stalled_s, 1),
            "waiting_for_broker": stalled_s >= STALL_AFTER_S + linger_s,
            "broker_errors": sum(a.get("broker_errors", 0) for a in per_actor),
            "loop_lag_max_ms": max(
                (a.get("lag_max_ms", 0.0) for a in per_actor), default=0.0
            ),
            "lost_actors": {str(i): why for i, why in sorted(self._lost.items())},
            "lost_unconfirmed": lost_unconfirmed,
            "errors": list(self._errors),
            "bootstrap": self.bootstrap,
            "embedded_broker": cfg.kafka.bootstrap_servers == "embedded",
            "clock": _clock_summary(cfg, per_actor),
            # backfill: how far actors drifted apart in event time at most
            "max_skew_s": _most(per_actor, "max_skew_s"),
            # realtime, accelerated: how late events went out (wall s, worst actor)
            "behind_s_max": _most(per_actor, "behind_s_max"),
            "behind_s_p99": _most(per_actor, "behind_s_p99"),
            "per_actor": per_actor,
        }
        if final:
            failed = sum(t["failed"] for t in topics.values())
            summary["ok"] = (
                failed == 0
                and undelivered == 0
                and not self._lost
                and self._coordinator_lost is None
            )
        return summary

    def _connect_ray(self) -> None:
        if ray.is_initialized():
            return
        ours = None
        if threading.current_thread() is threading.main_thread():
            ours = signal.getsignal(signal.SIGTERM)
        try:
            ray.init(
                # "local" starts a Ray of our own even when another one runs here.
                address=self.config.ray.address or "local",
                namespace=self.config.ray.namespace,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
        finally:
            # NOTE: ray.init swaps in its own SIGTERM handler (SystemExit) and its core
            # worker a crash handler; without ours again, SIGTERM would skip the drain.
            # TODO(#3): a SIGTERM during ray.init itself still meets Ray's handler.
            # Blocking signals around ray.init closes that gap but every process Ray
            # starts inherits the block, so its daemons then ignore SIGTERM.
            if ours is not None:
                signal.signal(signal.SIGTERM, ours)

    def _refuse_embedded_on_cluster(self) -> None:
        address = self.config.ray.address or ""
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        if address.startswith("ray://") or len(nodes) > 1:
            raise ConfigError(
                f"{self.config.source}: kafka.bootstrap_servers: 'embedded' runs "
                "inside the driver and cannot serve a multi-node Ray cluster "
                f"({len(nodes)} nodes, ray.address {address!r}); set it to a real "
                "broker's host:port."
            )

    def _install_signal_handlers(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}
        for signum in SIGNALS:
            previous[signum] = signal.getsignal(signum)
            signal.signal(signum, self._on_signal)
        return previous

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._interrupts += 1
        if self._interrupts == 1:
            report_logger.info(
                "%s: stopping: closing sessions and flushing (signal again to force "
                "exit)",
                signal.Signals(signum).name,
            )
            return
        report_logger.info(
            "%s again: forced exit (code %d): up to %d events produced but not yet "
            "confirmed by the broker may be lost, plus any produced since the last "
            "progress line",
            signal.Signals(signum).name,
            EXIT_FORCED,
            self._at_risk(),
        )
        logging.shutdown()
        end_child_processes()
        os._exit(EXIT_FORCED)

    def _at_risk(self) -> int:
        """Events produced and not yet confirmed, as of the last stats of each actor."""
        at_risk = 0
        for index in range(len(self._actors)):
            stats = self._finals.get(index) or self._last.get(index) or {}
            for counts in stats.get("topics", {}).values():
                at_risk += counts["produced"] - counts["delivered"] - counts["failed"]
        return max(0, at_risk)

    def _teardown(self) -> None:
        for actor in self._actors:
            try:
                ray.kill(actor)
            except Exception:  # noqa: BLE001 - the actor may already be gone
                pass
        if self._coordinator is not None:
            try:
                ray.kill(self._coordinator)
            except Exception:  # noqa: BLE001
                pass
        if self._broker is not None:
            self._broker.close()
            self._broker = None


def _most(per_actor: list[dict[str, Any]], key: str) -> float | None:
    """The largest value of `key` over the actors that report it, else None."""
    values = [a[key] for a in per_actor if a.get(key) is not None]
    return max(values) if values else None


def _clock_summary(cfg: Config, per_actor: list[dict[str, Any]]) -> dict[str, Any]:
    clock = cfg.clock
    summary: dict[str, Any] = {"mode": clock.mode, "speed": clock.speed}
    if clock.mode == "backfill":
        assert clock.start is not None and clock.end is not None
        times = [a["sim_time"] for a in per_actor if a.get("sim_time")]
        summary.update(
            start=format_time(clock.start.timestamp()),
            end=format_time(clock.end.timestamp()),
            max_skew_s=clock.max_skew_s,
            sim_time=min(times) if times else None,  # the slowest actor's
        )
    return summary


def _utc_now() -> str:
    return (
        datetime.now(timezone.utc)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def end_child_processes() -> None:
    """End the processes this driver started (a local Ray's), by PID, at once.

    Used where the run is over or given up: every event is counted by then, so nothing
    is lost that a graceful stop of Ray's daemons (seconds each) would keep. Without it,
    some of Ray's agents outlive the driver for a minute or more.
    """
    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        return
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.kill()
