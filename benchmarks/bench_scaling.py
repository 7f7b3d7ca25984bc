"""Scaling: 1 actor against 2 on this machine, and 2 actors on a 2-node local cluster.

The two-node cluster (ray.cluster_utils.Cluster, one CPU per node) runs in a subprocess,
since one process holds one Ray runtime. Every figure is deliveries confirmed per
second, as a ratio to the one-actor run of the same invocation.

    python benchmarks/bench_scaling.py [--seconds S]
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from _common import HERE, main_on_broker
from _raysim import backfill_available, median_run

SECONDS = 20.0
CLUSTER_TIMEOUT_S = 300

CLUSTER_SCRIPT = """
import json, logging, sys
sys.path.insert(0, sys.argv[1])
import ray
from ray.cluster_utils import Cluster
from _raysim import run_raysim

cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
cluster.add_node(num_cpus=1)
cluster.wait_for_nodes()
ray.init(address=cluster.address, namespace="raysim-bench-cluster",
         log_to_driver=False, logging_level=logging.WARNING)
nodes = len([n for n in ray.nodes() if n.get("Alive")])
try:
    result = run_raysim(sys.argv[2], 2, sys.argv[3], float(sys.argv[4]))
    result["nodes"] = nodes
finally:
    ray.shutdown()
    cluster.shutdown()
print("RESULT " + json.dumps(result))
"""


def run_two_nodes(bootstrap: str, mode: str, seconds: float) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            CLUSTER_SCRIPT,
            str(HERE),
            bootstrap,
            mode,
            str(seconds),
        ],
        capture_output=True,
        text=True,
        timeout=CLUSTER_TIMEOUT_S,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"two-node run failed (exit {done.returncode}): {done.stderr[-2000:]}"
        )
    return json.loads(lines[-1][len("RESULT ") :])


def run(
    bootstrap: str, seconds: float = SECONDS, one: dict[str, Any] | None = None
) -> dict[str, Any]:
    mode = "backfill" if backfill_available()[0] else "accelerated"
    if one is None or one["mode"] != mode:
        one, _ = median_run(bootstrap, 1, mode, seconds)
    two, rates = median_run(bootstrap, 2, mode, seconds)
    result: dict[str, Any] = {
        "scaling_mode": mode,
        "scaling_1_actor_events_per_s": one["events_per_s"],
        "scaling_2_actors_events_per_s": two["events_per_s"],
        "scaling_2_actors_trials_events_per_s": rates,
        "scaling_2_over_1": round(two["events_per_s"] / one["events_per_s"], 3),
        "scaling_2_actor_run": two,
    }
    try:
        nodes = run_two_nodes(bootstrap, mode, seconds)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        result.update(scaling_2_nodes_over_1=None, scaling_2_nodes_note=str(exc)[-500:])
    else:
        result.update(
            scaling_2_nodes_events_per_s=nodes["events_per_s"],
            scaling_2_nodes_over_1=round(
                nodes["events_per_s"] / one["events_per_s"], 3
            ),
            scaling_2_node_run=nodes,
        )
    return result


def rows(result: dict[str, Any]) -> list[tuple[str, Any, str]]:
    mode = result["scaling_mode"]
    return [
        ("scaling_1_actor_events_per_s", result["scaling_1_actor_events_per_s"], mode),
        (
            "scaling_2_actors_events_per_s",
            result["scaling_2_actors_events_per_s"],
            f"{mode}; median of "
            + ", ".join(
                f"{r:,.0f}" for r in result["scaling_2_actors_trials_events_per_s"]
            ),
        ),
        ("scaling_2_over_1", result["scaling_2_over_1"], "target >= 1.7"),
        (
            "scaling_2_nodes_over_1",
            result["scaling_2_nodes_over_1"],
            "2-node local cluster, 1 CPU per node; "
            + result.get("scaling_2_nodes_note", ""),
        ),
    ]


if __name__ == "__main__":
    main_on_broker(__doc__, "scaling", "Scaling", run, rows, SECONDS)
