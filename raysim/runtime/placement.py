"""Where simulator actors go: one per physical core of each node, within its Ray CPUs."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psutil
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from raysim.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["NodeSlots", "plan_actors"]


@dataclass(frozen=True)
class NodeSlots:
    node_id: str
    address: str
    actors: int


@ray.remote(num_cpus=0)
def _physical_cores() -> int:
    return psutil.cpu_count(logical=False) or psutil.cpu_count() or 1


def plan_actors(requested: int | str, source: str) -> list[NodeSlots]:
    """Decide how many simulators each alive node gets."""
    nodes = [
        n for n in ray.nodes() if n.get("Alive") and n["Resources"].get("CPU", 0) >= 1
    ]
    if not nodes:
        raise ConfigError(
            f"{source}: simulation.actors: the Ray cluster has no node with a CPU."
        )
    cpus = {n["NodeID"]: int(n["Resources"]["CPU"]) for n in nodes}
    if requested == "auto":
        probes = [
            _physical_cores.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(
                    n["NodeID"], soft=False
                )
            ).remote()
            for n in nodes
        ]
        cores = ray.get(probes, timeout=60)
        counts = {
            n["NodeID"]: max(1, min(c, cpus[n["NodeID"]])) for n, c in zip(nodes, cores)
        }
    else:
        wanted = int(requested)
        total = sum(cpus.values())
        if wanted > total:
            raise ConfigError(
                f"{source}: simulation.actors: {wanted} actors need {wanted} CPUs, "
                f"but the Ray cluster has {total}; use 'auto' or at most {total}."
            )
        counts = {n["NodeID"]: 0 for n in nodes}
        while wanted:
            for n in nodes:
                if wanted and counts[n["NodeID"]] < cpus[n["NodeID"]]:
                    counts[n["NodeID"]] += 1
                    wanted -= 1
    return [
        NodeSlots(n["NodeID"], n.get("NodeManagerAddress", "?"), counts[n["NodeID"]])
        for n in nodes
        if counts[n["NodeID"]]
    ]


def pinned(node_id: str) -> NodeAffinitySchedulingStrategy:
    return NodeAffinitySchedulingStrategy(node_id, soft=False)
