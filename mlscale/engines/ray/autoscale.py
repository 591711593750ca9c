"""An autoscaling Ray cluster: what it can become, asking it for nodes, waiting for them, releasing them.

What it can become comes from the node groups the autoscaler publishes in the GCS (the cluster config Ray
Data reads too: each group's resources and max count), less the nodes of each group already up. Asking is
`ray.autoscaler.sdk.request_resources(bundles=...)`, a standing request the autoscaler keeps until it is
replaced: the engine replaces it with an empty one when the run ends, so the cluster can shrink.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import ray

from mlscale.engines.ray.layout import NodeGroup, ScaleUp
from mlscale.errors import EngineError
from mlscale.recipe.engine_config import RayNodeGroup
from mlscale.results import OnProgress

log = logging.getLogger("mlscale")
PROGRESS_EVERY_S = 5.0


def _gcs_client() -> Any:
    """The connected driver's GCS client (ray's compiled class, no stub)."""
    return ray._private.worker.global_worker.gcs_client  # type: ignore[attr-defined]


def node_groups(declared: list[RayNodeGroup]) -> list[NodeGroup]:
    """The node groups the autoscaler may still add nodes of: those it publishes in the GCS, else the
    recipe's `engine.ray.node_groups` (less the nodes of as many CPUs already up); [] for a cluster of fixed
    size as far as we can tell."""
    from ray._private.state import state

    try:
        config = state.get_cluster_config()
    except Exception:  # an older GCS, or no access
        log.debug("ray: could not read the autoscaler's node groups", exc_info=True)
        config = None
    if config is None or not config.node_group_configs:
        return _declared(declared)
    up = _nodes_by_type()
    groups = []
    for group in config.node_group_configs:
        cpus = float(group.resources.get("CPU", 0))
        if cpus <= 0 or group.max_count == 0:
            continue
        more = None if group.max_count < 0 else max(0, group.max_count - up.get(group.name, 0))
        groups.append(NodeGroup(name=group.name, cpus=cpus, more=more))
    return groups


def _declared(declared: list[RayNodeGroup]) -> list[NodeGroup]:
    present = cpu_nodes()
    return [
        NodeGroup(name=g.name, cpus=g.cpus, more=max(0, g.max - sum(1 for c in present if c == g.cpus)))
        for g in declared
    ]


def _nodes_by_type() -> dict[str, int]:
    """Alive nodes per node type, as the GCS knows them."""
    from ray.autoscaler.v2.sdk import get_cluster_resource_state
    from ray.core.generated.autoscaler_pb2 import NodeStatus  # type: ignore[attr-defined]

    counts: dict[str, int] = {}
    for node in get_cluster_resource_state(_gcs_client()).node_states:
        if node.status != NodeStatus.DEAD:
            counts[node.ray_node_type_name] = counts.get(node.ray_node_type_name, 0) + 1
    return counts


def request(bundles: list[dict[str, float]]) -> None:
    """Ask the autoscaler for room for `bundles` (replaces any earlier request of this cluster)."""
    from ray.autoscaler.sdk import request_resources

    request_resources(bundles=bundles)


def clear() -> None:
    """Withdraw the request: the autoscaler may remove the nodes once idle. Never fails."""
    try:
        request([])
    except Exception:  # the cluster went away: nothing is left requested there either
        log.debug("ray: could not clear the autoscaler request", exc_info=True)


def cpu_nodes() -> list[float]:
    """CPUs of each alive node with CPUs, largest first."""
    cpus = (float(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive"))
    return sorted((c for c in cpus if c > 0), reverse=True)


def wait_for_nodes(
    scale: ScaleUp,
    *,
    ready: Callable[[list[float]], bool],
    timeout_s: float,
    progress: OnProgress | None = None,
) -> list[float]:
    """Ask for `scale.bundles` and wait until `ready(node CPUs)`; returns the nodes' CPUs then.

    Logs `waiting for 2 node(s) from the autoscaler: 1 of 2 up, 45 s` every few seconds and reports
    ("nodes", {"up", "want", "seconds"}) to `progress`. EngineError, one line, after `timeout_s`; the
    caller clears the request (also on Ctrl-C)."""
    want, started = len(scale.add), time.monotonic()
    before = len(cpu_nodes())
    request(scale.bundles)
    last_said = 0.0
    while True:
        nodes = cpu_nodes()
        up, waited = min(want, max(0, len(nodes) - before)), time.monotonic() - started
        if ready(nodes):
            log.info("ray: %d node(s) from the autoscaler up after %.0f s", len(nodes) - before, waited)
            return nodes
        if waited >= timeout_s:
            raise EngineError(
                f"ray: the autoscaler did not add {scale.describe()} within engine.ray.scale_timeout_s="
                f"{timeout_s:g} ({up} of {want} up); check the autoscaler (`ray status`) or raise the timeout"
            )
        if progress is not None:
            progress("nodes", {"up": up, "want": want, "seconds": waited})
        if waited - last_said >= PROGRESS_EVERY_S or last_said == 0.0:
            log.info(
                "waiting for %d node(s) from the autoscaler: %d of %d up, %.0f s", want, up, want, waited
            )
            last_said = max(waited, 1e-9)
        time.sleep(1.0)
