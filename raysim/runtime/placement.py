"""Where simulator actors go: one per physical core of a node, within its Ray CPUs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import psutil
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from raysim.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["NodeSlots", "cores_for_node", "plan_actors", "split_actors"]

PROBE_TIMEOUT_S = 60


@dataclass(frozen=True)
class NodeSlots:
    node_id: str
    address: str
    actors: int


@ray.remote(num_cpus=0)
def _core_counts() -> tuple[Any, Any]:
    """What psutil says on the node, unchecked: (physical, logical)."""
    return psutil.cpu_count(logical=False), psutil.cpu_count()


def cores_for_node(physical: Any, logical: Any, ray_cpus: int, node: str = "") -> int:
    """Actors for one node: its physical cores, trusted only when they make sense.

    psutil may report None (containers, some ARM boards, BSDs) or a figure that cannot
    be right (zero, negative, more physical cores than logical ones). Then the logical
    count is used, and without that one actor. Never more than the node's Ray CPUs,
    never fewer than one.
    """
    usable_logical = logical if _plausible(logical) else None
    if _plausible(physical) and (usable_logical is None or physical <= usable_logical):
        cores = int(physical)
    else:
        cores = int(usable_logical) if usable_logical is not None else 1
        logger.warning(
            "node %s: psutil reports %r physical and %r logical cores; planning %d "
            "actor(s) from %s",
            node or "?",
            physical,
            logical,
            min(cores, ray_cpus),
            "the logical count" if usable_logical is not None else "a single core",
        )
    return max(1, min(cores, ray_cpus))


def split_actors(
    requested: int | str,
    cpus: dict[str, int],
    cores: dict[str, tuple[Any, Any]] | None,
    source: str,
) -> dict[str, int]:
    """Actors per node id, from each node's Ray CPUs and, for 'auto', its cores."""
    if not cpus:
        raise ConfigError(
            f"{source}: simulation.actors: the Ray cluster has no node with a CPU."
        )
    if requested == "auto":
        assert cores is not None
        return {
            node: cores_for_node(*cores[node], ray_cpus=cpus[node], node=node)
            for node in cpus
        }
    wanted = int(requested)
    total = sum(cpus.values())
    if wanted > total:
        raise ConfigError(
            f"{source}: simulation.actors: {wanted} actors need {wanted} CPUs, "
            f"but the Ray cluster has {total}; use 'auto' or at most {total}."
        )
    counts = {node: 0 for node in cpus}
    while wanted:
        for node in cpus:
            if wanted and counts[node] < cpus[node]:
                counts[node] += 1
                wanted -= 1
    return counts


def plan_actors(requested: int | str, source: str) -> list[NodeSlots]:
    """Decide how many simulators each alive node gets."""
    nodes = [
        n for n in ray.nodes() if n.get("Alive") and n["Resources"].get("CPU", 0) >= 1
    ]
    cpus = {n["NodeID"]: int(n["Resources"]["CPU"]) for n in nodes}
    cores = None
    if requested == "auto" and nodes:
        probes = [
            _core_counts.options(scheduling_strategy=pinned(node)).remote()
            for node in cpus
        ]
        cores = dict(zip(cpus, ray.get(probes, timeout=PROBE_TIMEOUT_S), strict=True))
    counts = split_actors(requested, cpus, cores, source)
    return [
        NodeSlots(n["NodeID"], n.get("NodeManagerAddress", "?"), counts[n["NodeID"]])
        for n in nodes
        if counts[n["NodeID"]]
    ]


def pinned(node_id: str) -> NodeAffinitySchedulingStrategy:
    return NodeAffinitySchedulingStrategy(node_id, soft=False)


def _plausible(count: Any) -> bool:
    # NOTE: 4096 is far above any machine Ray runs on today; beyond it a count is junk.
    return (
        isinstance(count, int)
        and not isinstance(count, bool)
        and 1 <= count <= MAX_PLAUSIBLE_CORES
    )


MAX_PLAUSIBLE_CORES = 4096
