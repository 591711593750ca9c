"""KubeRay's in-tree autoscaler for the manifests `mlscale kuberay` renders.

Fields (ray.io/v1 RayCluster spec, KubeRay v1.7.0 CRD, vendored trimmed in tests/data/kuberay_crd):
`enableInTreeAutoscaling: true` starts the autoscaler beside the head; `autoscalerOptions.upscalingMode`
(Default, Conservative, Aggressive) and `idleTimeoutSeconds` (how long a worker pod idles before it is
removed); each worker group scales between `minReplicas` and `maxReplicas` (`replicas` starts at the minimum).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from mlscale.errors import RecipeError

UpscalingMode = Literal["Default", "Conservative", "Aggressive"]
UPSCALING_MODES: tuple[UpscalingMode, ...] = ("Default", "Conservative", "Aggressive")
IDLE_TIMEOUT_S = 60  # KubeRay's own default


@dataclass(frozen=True)
class Autoscaling:
    """A worker group that grows for the work and shrinks when idle: `min_workers`..`max_workers` pods
    (`max_workers` None: as many as the recipe's engine.workers)."""

    min_workers: int = 0
    max_workers: int | None = None
    idle_timeout_s: int = IDLE_TIMEOUT_S
    upscaling_mode: UpscalingMode = "Default"

    def bounds(self, workers: int) -> tuple[int, int]:
        """(minReplicas, maxReplicas) for a recipe of `workers` workers; RecipeError, one line, when they
        cannot hold it."""
        top = workers if self.max_workers is None else self.max_workers
        if self.min_workers < 0 or top < 1 or self.min_workers > top:
            raise RecipeError(
                f"kuberay: --min-workers {self.min_workers} and --max-workers {top} must satisfy "
                "0 <= min <= max, max >= 1"
            )
        if self.idle_timeout_s < 0:
            raise RecipeError(f"kuberay: --idle-timeout {self.idle_timeout_s} must be >= 0 seconds")
        if self.upscaling_mode not in UPSCALING_MODES:
            raise RecipeError(
                f"kuberay: --upscaling-mode {self.upscaling_mode!r} must be one of {', '.join(UPSCALING_MODES)}"
            )
        if workers > top:
            raise RecipeError(
                f"kuberay: engine.workers={workers} needs {workers} worker pods, more than --max-workers {top}"
            )
        return self.min_workers, top

    def node_groups(self, workers: int, cpus: int) -> list[dict[str, Any]]:
        """The worker group as a recipe names it (`engine.ray.node_groups`), for the run to plan with."""
        return [{"name": "workers", "cpus": cpus, "max": self.bounds(workers)[1]}]


def autoscaled(spec: dict[str, Any], autoscaling: Autoscaling, workers: int) -> dict[str, Any]:
    """A RayCluster spec with the in-tree autoscaler on and its worker group between the bounds."""
    low, high = autoscaling.bounds(workers)
    out: dict[str, Any] = {}
    for key, value in spec.items():
        out[key] = value
        if key == "authOptions":
            out["enableInTreeAutoscaling"] = True
            out["autoscalerOptions"] = {
                "upscalingMode": autoscaling.upscaling_mode,
                "idleTimeoutSeconds": autoscaling.idle_timeout_s,
            }
    for group in out["workerGroupSpecs"]:
        group.update(replicas=low, minReplicas=low, maxReplicas=high)
    return out


def note(autoscaling: Autoscaling, workers: int, cpus: int, *, recipes: bool = False) -> str:
    """The header lines that say how the worker group scales (`recipes`: and what a recipe run against the
    cluster from outside names)."""
    low, high = autoscaling.bounds(workers)
    text = (
        f"Autoscaling: {low} to {high} worker pod(s) x {cpus} CPU ({autoscaling.upscaling_mode} upscaling); "
        f"idle pods go after {autoscaling.idle_timeout_s} s."
    )
    if recipes:  # Ray 2.60's autoscaler does not publish its node groups where the driver can read them
        text += (
            "\nRecipes run against it name the group: engine.ray.node_groups: "
            f"[{{name: workers, cpus: {cpus}, max: {high}}}]."
        )
    return text
