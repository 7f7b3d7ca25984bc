"""Command line: parse, load the config, call the API, map errors to exit codes."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, NoReturn

import click
import orjson

from raysim.config import dump_config, load_config
from raysim.errors import ConfigError, RaysimError

__all__ = ["main"]

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
SIGNALS = (signal.SIGINT, signal.SIGTERM)


def main(argv: list[str] | None = None) -> None:
    # standalone: this process is the `raysim` command and ends when the command does.
    cli.main(args=argv, prog_name="raysim", obj={"standalone": True})


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Simulate an online store's shoppers and stream their events to Kafka."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


@cli.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a key."
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False),
    help="Write the JSON report here.",
)
@click.pass_context
def run(
    ctx: click.Context,
    config_path: str,
    overrides: tuple[str, ...],
    report_path: str | None,
) -> None:
    """Run the experiment in CONFIG until duration_s or Ctrl+C."""
    debug = ctx.obj["debug"]
    config = _load(config_path, overrides, debug)
    if report_path:
        _check_report_path(report_path, debug)
    _configure_logging(config.logging.level, debug)
    import ray

    from raysim.simulation import Simulation

    ours = not ray.is_initialized()  # a Ray this command starts, it also stops
    try:
        report = Simulation(config).run(progress=_Progress(), handle_signals=True)
    except RaysimError as exc:
        _fail(exc, debug)
    # NOTE: everything is flushed and counted; a signal from here to the exit (Ray's
    # shutdown takes a moment) would only cost the summary and the exit code.
    _ignore_signals()
    if report_path:
        Path(report_path).write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    try:
        _print_summary(report)
        if report_path:
            click.echo(f"report written to {report_path}")
        sys.stdout.flush()
    except BrokenPipeError:
        _stdout_to_devnull()
    code = 0 if report.get("ok") else EXIT_FAILED
    if ctx.obj.get("standalone"):
        _exit_now(code, end_ray=ours)
    if ours:
        _shut_down_ray()
    sys.exit(code)


def _ignore_signals() -> None:
    """From here to the exit, SIGINT and SIGTERM do nothing."""
    if threading.current_thread() is threading.main_thread():
        for signum in SIGNALS:
            signal.signal(signum, signal.SIG_IGN)


def _exit_now(code: int, end_ray: bool) -> NoReturn:
    """End the command without ray.shutdown(), which puts back SIGTERM's default
    action while it runs: a SIGTERM then would end a finished run with -15. A local
    Ray this command started is ended by PID instead."""
    from raysim.simulation import end_child_processes

    if end_ray:
        end_child_processes()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _shut_down_ray() -> None:
    """Stop the local Ray now rather than at interpreter exit, signals ignored again
    afterwards (ray.shutdown() puts back the handlers it found)."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
    _ignore_signals()


@cli.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a key."
)
@click.option("--show", is_flag=True, help="Print the resolved config, secrets masked.")
@click.pass_context
def validate(
    ctx: click.Context, config_path: str, overrides: tuple[str, ...], show: bool
) -> None:
    """Check CONFIG and its input files; print every problem at once."""
    debug = ctx.obj["debug"]
    config = _load(config_path, overrides, debug)
    from raysim.model.catalog import load_catalog
    from raysim.model.users import load_users

    try:
        users = load_users(config.users, config.seed)
        catalog = load_catalog(config.catalog, config.seed)
    except RaysimError as exc:
        _fail(exc, debug)
    if show:
        click.echo(
            orjson.dumps(dump_config(config), option=orjson.OPT_INDENT_2).decode()
        )
    click.echo(
        f"{config.source}: ok "
        f"({len(users.records)} users, {len(catalog.products)} products)"
    )


def _load(path: str, overrides: tuple[str, ...], debug: bool) -> Any:
    try:
        return load_config(path, list(overrides))
    except RaysimError as exc:
        _fail(exc, debug)


def _check_report_path(report_path: str, debug: bool) -> None:
    """Refuse a --report the run could not write at its end, before it starts."""
    folder = Path(report_path).resolve().parent
    if not folder.is_dir():
        problem = "its directory does not exist"
    elif not os.access(folder, os.W_OK):
        problem = "its directory is not writable"
    else:
        return
    _fail(ConfigError([f"--report {report_path}: {problem} ({folder})"]), debug)


def _fail(exc: RaysimError, debug: bool) -> None:
    if debug:
        raise exc
    name = type(exc).__name__
    problems = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
    for problem in problems:
        click.echo(f"{name}: {problem}", err=True)
    sys.exit(EXIT_BAD_INPUT if isinstance(exc, ConfigError) else EXIT_FAILED)


def _configure_logging(level: str, debug: bool) -> None:
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("raysim")
    root.addHandler(console)
    root.setLevel(logging.DEBUG if debug else level)
    report = logging.getLogger("raysim.report")
    plain = _StdoutHandler(sys.stdout)
    plain.setFormatter(logging.Formatter("%(message)s"))
    report.addHandler(plain)
    report.setLevel(logging.INFO)
    report.propagate = False


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Report lines to stdout; a reader that goes away (`| head`) ends them, not the
    run, whose events go to Kafka."""

    def handleError(self, record: logging.LogRecord) -> None:
        if isinstance(sys.exc_info()[1], BrokenPipeError):
            _stdout_to_devnull()
            return
        super().handleError(record)


def _stdout_to_devnull() -> None:
    """stdout's reader is gone: what is still printed goes nowhere, without errors."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


class _Progress:
    """One line a second: current rate, totals per topic, sessions, throttling."""

    def __init__(self) -> None:
        self._last: tuple[float, int] | None = None

    def __call__(self, stats: dict[str, Any]) -> None:
        delivered = sum(c["delivered"] for c in stats["topics"].values())
        wall = stats["wall_s"]
        rate = stats["events_per_s"]
        if self._last is not None and wall > self._last[0]:
            rate = (delivered - self._last[1]) / (wall - self._last[0])
        self._last = (wall, delivered)
        topics = " ".join(
            f"{name}={counts['delivered']:,}"
            for name, counts in stats["topics"].items()
        )
        actors = stats["per_actor"]
        limit = sum(a.get("concurrency", 0) for a in actors)
        target = sum(a.get("concurrency_target", 0) for a in actors)
        cap = f"limit {limit:,}"
        if limit < target:
            cap += f", throttled from {target:,}: CPU busy"
        sim_time = stats["clock"].get("sim_time")
        clock = f" | simulated time {sim_time}" if sim_time else ""
        sessions = stats["sessions"]
        logging.getLogger("raysim.report").info(
            "[%5.0fs] %8s events/s | delivered %s | sessions in flight %s (%s)%s%s",
            wall,
            f"{rate:,.0f}",
            topics,
            f"{sessions['in_flight']:,}",
            cap,
            clock,
            _health(stats),
        )


def _health(stats: dict[str, Any]) -> str:
    """What is wrong right now, if anything, for the end of a progress line."""
    notes = []
    if stats.get("waiting_for_broker"):
        notes.append(
            f"WAITING FOR BROKER: nothing delivered for {stats['stalled_s']:.0f} s, "
            f"{stats['queued']:,} queued"
        )
    failed = sum(c["failed"] for c in stats["topics"].values())
    if failed:
        notes.append(f"{failed:,} failed")
    if stats.get("broker_errors"):
        notes.append(f"{stats['broker_errors']:,} broker errors")
    if stats.get("lost_actors"):
        notes.append(f"{len(stats['lost_actors'])} actor(s) lost")
    return "".join(f" | {note}" for note in notes)


def _print_summary(report: dict[str, Any]) -> None:
    echo = click.echo
    total = sum(t["delivered"] for t in report["topics"].values())
    echo("")
    echo(
        f"{report['name']}: {total:,} events delivered in {report['wall_s']:.1f} s "
        f"({report['events_per_s']:,.0f} events/s) by {report['actors']} actors"
    )
    width = max(16, *(len(name) + 2 for name in report["topics"]))
    echo(f"  {'topic':<{width}}{'produced':>12}{'delivered':>12}{'failed':>10}")
    for name, counts in report["topics"].items():
        echo(
            f"  {name:<{width}}{counts['produced']:>12,}{counts['delivered']:>12,}"
            f"{counts['failed']:>10,}"
        )
    sessions = report["sessions"]
    echo(
        f"  sessions: {sessions['started']:,} started, "
        f"{sessions['completed']:,} completed, "
        f"{sessions['cut']:,} closed when the run ended"
    )
    if report.get("embedded_broker"):
        echo(
            "  the embedded broker and its topics ended with the run; set "
            "kafka.bootstrap_servers to a broker to keep the events"
        )
    failed = sum(t["failed"] for t in report["topics"].values())
    if failed:
        echo(
            f"  FAILED: {failed:,} events could not be delivered (the broker did not "
            "acknowledge them within message.timeout.ms); they are not in Kafka"
        )
    if report["undelivered"]:
        echo(
            f"  NOT CONFIRMED: {report['undelivered']:,} events were sent but the "
            "broker never answered; they may or may not be in Kafka"
        )
    for actor in report["per_actor"]:
        if "lost" not in actor:
            continue
        returned = actor.get("users_returned")
        echo(
            f"  actor {actor['index']} lost ({actor['lost']}): its counts above are "
            "the last it reported; "
            + (
                f"{returned:,} of its users went back to the pool"
                if returned is not None
                else "its users could not be returned"
            )
        )
    if report.get("lost_unconfirmed"):
        echo(
            f"  {report['lost_unconfirmed']:,} events of lost actors had no answer "
            "from the broker yet; more may have been sent after their last report"
        )
    for error in report.get("errors", []):
        echo(f"  ERROR: {error}")
