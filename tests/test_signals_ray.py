"""SIGTERM while Ray starts and while it shuts down, the moments Ray owns signals.

Each case runs in a fresh Python process, as `raysim run` does, so that Ray's handlers
and the signal mask are that process's own.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from faults.common import QUICKSTART

TIMEOUT_S = 120


def run_script(body: str) -> subprocess.CompletedProcess[str]:
    script = textwrap.dedent(body).replace("QUICKSTART", repr(str(QUICKSTART)))
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )


def test_sigterm_while_ray_starts_reaches_the_run_not_ray():
    done = run_script(
        """
        import os, signal, subprocess, time
        from raysim.config import load_config
        from raysim.simulation import Simulation

        taken = []
        signal.signal(signal.SIGTERM, lambda signum, frame: taken.append(signum))
        simulation = Simulation(load_config(QUICKSTART))
        # Another process sends it, as a supervisor would, half a second into ray.init.
        subprocess.Popen(["sh", "-c", f"sleep 0.5; kill -TERM {os.getpid()}"])
        started = time.monotonic()
        simulation._connect_ray()
        took = time.monotonic() - started
        time.sleep(0.2)
        import ray
        ray.shutdown()
        print("RESULT", took, taken)
        """
    )
    assert done.returncode == 0, done.stderr[-2000:]
    line = [x for x in done.stdout.splitlines() if x.startswith("RESULT")][-1]
    took, taken = line.split(" ", 2)[1:]
    assert float(took) > 1.0, "ray.init ended before the signal came; no test"
    assert taken == "[15]"


def test_sigterm_while_ray_shuts_down_leaves_a_finished_run_at_exit_0():
    done = run_script(
        """
        import os, signal, threading, time
        from raysim.cli import _shut_down_ray
        from raysim.config import load_config
        from raysim.simulation import Simulation

        Simulation(load_config(QUICKSTART))._connect_ray()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop = threading.Event()

        def pester():
            # Every few milliseconds for as long as the shutdown takes.
            while not stop.is_set():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.002)

        from raysim import cli
        cli._ignore_signals()
        sender = threading.Thread(target=pester)
        sender.start()
        _shut_down_ray()
        stop.set()
        sender.join()
        print("RESULT finished")
        """
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "RESULT finished" in done.stdout
