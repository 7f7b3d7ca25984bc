"""Small and odd machines: 1 and 2 CPUs, core counts psutil gets wrong, a busy host."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid

import pytest
from faults.common import QUICKSTART, count_check, topic_overrides

from raysim.config import TOPIC_KEYS, TopicsConfig
from raysim.errors import ConfigError
from raysim.runtime.placement import cores_for_node, split_actors


@pytest.mark.parametrize(
    ("physical", "logical", "ray_cpus", "expected"),
    [
        (1, 2, 1, 1),  # 1 CPU
        (2, 4, 2, 2),  # 2 CPUs
        (8, 16, 2, 2),  # more cores than Ray was given
        (None, 2, 2, 2),  # psutil does not know the physical count
        (None, None, 4, 1),  # nor the logical one
        (0, 4, 4, 4),
        (-3, 2, 2, 2),
        (10**6, 8, 8, 8),  # absurd
        (16, 4, 8, 4),  # more physical than logical cores cannot be
        ("2", 2, 2, 2),
        (True, 2, 2, 2),
    ],
)
def test_cores_for_node_trusts_psutil_only_when_it_makes_sense(
    physical, logical, ray_cpus, expected
):
    assert cores_for_node(physical, logical, ray_cpus) == expected


def test_cores_for_node_warns_when_it_falls_back(caplog):
    with caplog.at_level("WARNING", logger="raysim.runtime.placement"):
        cores_for_node(None, 4, 2, node="n1")
    assert "node n1: psutil reports None physical and 4 logical cores" in caplog.text


@pytest.mark.parametrize("cpus", [1, 2])
def test_split_actors_fits_the_cpus_and_refuses_more(cpus):
    nodes = {"n1": cpus}
    assert split_actors("auto", nodes, {"n1": (cpus, cpus)}, "x.yaml") == {"n1": cpus}
    assert split_actors(cpus, nodes, None, "x.yaml") == {"n1": cpus}
    with pytest.raises(
        ConfigError,
        match=rf"x.yaml: simulation.actors: {cpus + 1} actors need {cpus + 1} CPUs, "
        rf"but the Ray cluster has {cpus}; use 'auto' or at most {cpus}.",
    ):
        split_actors(cpus + 1, nodes, None, "x.yaml")


def test_split_actors_refuses_a_cluster_without_cpus():
    with pytest.raises(ConfigError, match="has no node with a CPU"):
        split_actors("auto", {}, {}, "x.yaml")


# One CPU for Ray, and a process of this test keeping a core busy meanwhile.
ONE_CPU = """
import json, sys
import ray
from raysim import Simulation
ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
report = Simulation.from_yaml(sys.argv[1], sys.argv[2:]).run()
print("RESULT " + json.dumps(report))
"""
BUSY = "while True: pass"


@pytest.mark.kafka
def test_one_cpu_and_a_busy_host_still_run_and_throttle(broker, tmp_path):
    topics = TopicsConfig(
        **{key: f"{key}-{uuid.uuid4().hex[:12]}" for key in TOPIC_KEYS}
    )
    overrides = [
        *topic_overrides(broker, topics, tmp_path / "logs"),
        "duration_s=8",
        "simulation.throttle.cpu_percent=20",
        "simulation.throttle.interval_s=0.5",
    ]
    busy = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        done = subprocess.run(
            [sys.executable, "-c", ONE_CPU, str(QUICKSTART), *overrides],
            capture_output=True,
            text=True,
            timeout=180,
            cwd=tmp_path,
        )
    finally:
        os.kill(busy.pid, signal.SIGKILL)
        busy.wait()
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(lines[-1][len("RESULT ") :])
    assert report["actors"] == 1 and report["ok"] is True
    actor = report["per_actor"][0]
    assert actor["throttled"] > 0, actor
    count_check(
        "1 CPU, host kept busy",
        broker,
        topics,
        report,
        f"1 actor; throttled {actor['throttled']} times; exit 0",
    )
