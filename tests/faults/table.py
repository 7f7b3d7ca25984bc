"""Run the fault suite and write its figures into docs/reliability.md.

    python tests/faults/table.py            # runs tests/test_faults*.py (~6 min)
    python tests/faults/table.py --from F   # only renders figures already in F

Each fault test appends one JSON line per trial to the file named by
RAYSIM_FAULT_FIGURES (see tests/faults/common.py); this script sums them per fault
and replaces the table between the markers in docs/reliability.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "reliability.md"
START = "<!-- fault-table:start -->"
END = "<!-- fault-table:end -->"
COLUMNS = ("produced", "delivered", "failed", "consumed", "duplicates")


def run_suite(figures: Path) -> tuple[int, float, str]:
    env = {**os.environ, "RAYSIM_FAULT_FIGURES": str(figures)}
    tests = sorted(str(p) for p in (ROOT / "tests").glob("test_faults*.py"))
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if done.returncode:
        sys.stdout.write(done.stdout[-5000:])
    return done.returncode, time.monotonic() - started, summary


def render(rows: list[dict], note: str) -> str:
    faults: dict[str, dict] = {}
    for row in rows:
        entry = faults.setdefault(
            row["fault"],
            {"trials": 0, "outcomes": [], **{key: 0 for key in COLUMNS}},
        )
        entry["trials"] += 1
        for key in COLUMNS:
            if row[key] < 0 or entry[key] is None:
                entry[key] = None  # not known: the process was forced out
            else:
                entry[key] += row[key]
        if row["outcome"] not in entry["outcomes"]:
            entry["outcomes"].append(row["outcome"])
    lines = [
        "| fault | trials | produced | delivered | failed | consumed back "
        "| duplicates by event_id | outcome |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for fault, entry in faults.items():
        cells = ["–" if entry[key] is None else f"{entry[key]:,}" for key in COLUMNS]
        outcomes = entry["outcomes"]
        outcome = outcomes[0] if len(outcomes) == 1 else "; ".join(outcomes[:3])
        if len(outcomes) > 3:
            outcome += f" (+{len(outcomes) - 3} more)"
        lines.append(
            f"| {fault} | {entry['trials']} | " + " | ".join(cells) + f" | {outcome} |"
        )
    return "\n".join([note, "", *lines])


def write(table: str) -> None:
    text = DOC.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{START}\n{table}\n{END}{tail}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", type=Path, help="figures to render")
    args = parser.parse_args()
    code = 0
    if args.source is None:
        figures = Path(tempfile.mkstemp(prefix="raysim-faults-", suffix=".jsonl")[1])
        code, wall_s, summary = run_suite(figures)
        note = (
            f"Run of {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on "
            f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}: `{summary}` in {wall_s:.0f} s."
        )
    else:
        figures = args.source
        note = f"Figures from {figures}."
    rows = [orjson.loads(line) for line in figures.read_bytes().splitlines() if line]
    write(render(rows, note))
    print(f"{len(rows)} trials written to {DOC.relative_to(ROOT)}; {note}")
    return code


if __name__ == "__main__":
    sys.exit(main())
