"""A two-node Ray cluster on this machine: actors land on both nodes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from raysim.config import TOPIC_KEYS
from raysim.verify import verify

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "configs" / "quickstart.yaml"

# Runs in its own process: a second Ray runtime cannot share the test session's.
SCRIPT = """
import json, sys
import ray
from ray.cluster_utils import Cluster
from raysim import ConfigError, Simulation

cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
cluster.add_node(num_cpus=1)
cluster.wait_for_nodes()
ray.init(address=cluster.address, namespace="raysim-cluster-test", log_to_driver=False)
config, overrides = sys.argv[1], sys.argv[2:]
try:
    embedded = overrides + ["kafka.bootstrap_servers=embedded"]
    Simulation.from_yaml(config, embedded).start()
    refused = None
except ConfigError as exc:
    refused = str(exc)
sim = Simulation.from_yaml(config, overrides)
sim.start()
placement = sim.placement
report = sim.run()
ray.shutdown()
cluster.shutdown()
result = {"refused": refused, "placement": placement, "report": report}
print("RESULT " + json.dumps(result))
"""


@pytest.mark.ray
@pytest.mark.kafka
def test_two_node_cluster_gets_an_actor_on_each_node(broker, fresh_topics, tmp_path):
    names = fresh_topics.names()
    overrides = [
        f"kafka.bootstrap_servers={broker}",
        f"logging.dir={tmp_path / 'logs'}",
        "duration_s=6",
        *(f"kafka.topics.{key}={names[key]}" for key in TOPIC_KEYS),
    ]
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(QUICKSTART), *overrides],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT ") :])

    assert "embedded" in result["refused"] and "multi-node" in result["refused"]
    assert len({p["node_id"] for p in result["placement"]}) == 2
    report = result["report"]
    assert report["actors"] == 2 and report["ok"] is True
    assert all(a["sessions_started"] > 0 for a in report["per_actor"])
    expected = {key: report["topics"][names[key]]["delivered"] for key in TOPIC_KEYS}
    assert verify(broker, fresh_topics, expected=expected).problems == []
