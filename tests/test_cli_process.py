"""`raysim run` as a process, at its end: what a shell or a supervisor sees.

A SIGTERM after the summary: the run is over and counted, so the exit code is 0.
`ray.shutdown()` puts SIGTERM's default action back while it runs; `raysim run` must
not leave that window open, so it ends its local Ray by PID instead. A reader of stdout
that goes away (`raysim run ... | head`) ends the printing, not the run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
from faults.common import MARKER_ENV, QUICKSTART, processes_with

pytestmark = [pytest.mark.ray]

TIMEOUT_S = 120
PESTER_EVERY_S = 0.002
EXIT_GRACE_S = 15.0


def test_sigterm_after_the_summary_leaves_a_finished_run_at_exit_0(tmp_path):
    marker = uuid.uuid4().hex
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "raysim",
            "run",
            str(QUICKSTART),
            "--set",
            "duration_s=3",
            "--set",
            f"logging.dir={tmp_path / 'logs'}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env={**os.environ, MARKER_ENV: marker},
    )
    sent = 0
    done = threading.Event()

    def pester() -> None:
        # Every few milliseconds from the summary until the process is gone.
        nonlocal sent
        while not done.is_set() and process.poll() is None:
            try:
                process.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                return
            sent += 1
            time.sleep(PESTER_EVERY_S)

    output = []
    sender = threading.Thread(target=pester)
    try:
        for line in process.stdout:
            output.append(line)
            if "events delivered in" in line and not sender.is_alive():
                sender.start()
        code = process.wait(TIMEOUT_S)
    finally:
        done.set()
        if process.poll() is None:
            process.kill()
            process.wait()
        if sender.is_alive():
            sender.join()
    assert sent > 0, "".join(output)
    assert code == 0, (code, sent, "".join(output)[-2000:])
    left = processes_with(marker, EXIT_GRACE_S)
    assert left == [], f"processes of the run still there: {left}"


def test_a_reader_that_closes_stdout_ends_the_printing_not_the_run(tmp_path):
    marker = uuid.uuid4().hex
    report = tmp_path / "report.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "raysim",
            "run",
            str(QUICKSTART),
            "--set",
            "duration_s=4",
            "--set",
            f"logging.dir={tmp_path / 'logs'}",
            "--report",
            str(report),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, MARKER_ENV: marker},
    )
    try:
        first = process.stdout.readline()
        process.stdout.close()  # as `| head -1` does
        stderr = process.stderr.read()
        code = process.wait(TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        left = processes_with(marker, EXIT_GRACE_S)
    assert "events/s" in first
    assert code == 0, (code, stderr[-2000:])
    assert "Traceback" not in stderr and "Logging error" not in stderr, stderr[-2000:]
    assert json.loads(report.read_text())["ok"] is True
    assert left == [], f"processes of the run still there: {left}"
