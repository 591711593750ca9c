"""How a run is laid out on a Ray cluster: pure functions of the recipe and the cluster's shape.

No `import ray` here: `plan` and the run call the same functions, so what `mlscale plan` reports is what
the run asks Ray for, and both can be tested without a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlscale.errors import RecipeError
from mlscale.recipe.schema import EngineConfig

READ_CPUS = 0.25
"""CPUs a training worker leaves to the Ray Data tasks that read its train shard (else: a hang)."""
RAY_TRAIN_HEADROOM_CPUS = 0.5
"""CPUs per node Ray Train workers leave to Ray Data's feeding tasks (measured: a hang at 0 rows)."""


@dataclass(frozen=True)
class TrainLayout:
    """Training workers: how many, the CPUs each reserves, and the xgboost threads each runs."""

    trainer: str
    workers: int
    cpus: float
    threads: int
    note: str | None = None  # why fewer workers than asked run (logged by the engine)


@dataclass(frozen=True)
class TrialLayout:
    """Tune trials: CPUs per trial, the concurrency limit the search gets, and how many fit at once."""

    cpus_per_trial: float
    limit: int
    at_once: int
    basis_cpus: float  # the CPUs the limit was sized from (free ones on a shared cluster)


def trainer_name(config: EngineConfig) -> str:
    """`actors` or `ray_train`: `auto` picks Ray Train only when failures should be retried."""
    if config.ray.trainer != "auto":
        return config.ray.trainer
    return "ray_train" if config.ray.max_failures > 0 else "actors"


def train_layout(config: EngineConfig, node_cpus: list[float], *, reads_files: bool = False) -> TrainLayout:
    """Workers x CPUs x threads from the recipe and the CPUs of each node (largest first).

    xgboost threads within a node beat splitting a node into workers (each shard pays a conversion and a
    collective step), so unless cpus_per_worker is given, a node gets at most one worker using all its
    CPUs. `reads_files`: the workers read their own train shard with Ray Data (the `actors` trainer then
    leaves READ_CPUS of each worker's CPUs to the read tasks). RecipeError when the workers cannot fit.
    """
    trainer = trainer_name(config)
    workers, cpus, note = _workers_and_cpus(config, node_cpus)
    threads = max(1, round(min(node_cpus[:workers] or [cpus])))
    if config.cpus_per_worker is None and trainer == "ray_train":
        cpus = max(0.5, cpus - RAY_TRAIN_HEADROOM_CPUS)  # xgboost threads are set apart
    if reads_files and trainer == "actors":
        cpus = max(0.5, cpus - READ_CPUS)
    return TrainLayout(trainer=trainer, workers=workers, cpus=cpus, threads=threads, note=note)


def _workers_and_cpus(config: EngineConfig, node_cpus: list[float]) -> tuple[int, float, str | None]:
    requested = config.workers
    if config.cpus_per_worker is not None:
        cpus = float(config.cpus_per_worker)
        fit = sum(int(c // cpus) for c in node_cpus)
        if fit < requested:
            raise RecipeError(
                f"engine.workers={requested} x engine.cpus_per_worker={cpus:g} does not fit the cluster "
                f"({len(node_cpus)} node(s) with {', '.join(f'{c:g}' for c in node_cpus)} CPU)"
            )
        return requested, cpus, None
    if requested > sum(node_cpus):
        raise RecipeError(
            f"engine.workers={requested} is more than the cluster's {sum(node_cpus):g} CPU "
            f"({len(node_cpus)} node(s)); ask for at most {int(sum(node_cpus))}"
        )
    workers = min(requested, len(node_cpus))
    note = None
    if workers < requested:
        note = (
            f"ray: engine.workers={requested} on {len(node_cpus)} node(s): using {workers} worker(s), "
            "one per node with all its CPUs"
        )
    return workers, min(node_cpus[:workers]), note


@dataclass(frozen=True)
class NodeGroup:
    """A node type the cluster's autoscaler may add: its CPUs and how many more nodes of it it may add."""

    name: str
    cpus: float
    more: int | None  # None: no limit


@dataclass(frozen=True)
class ScaleUp:
    """Training's layout on the cluster as it will be, and the nodes to ask the autoscaler for."""

    layout: TrainLayout
    add: list[float]  # the CPUs of each node to ask for, largest first ([] when the nodes present do)
    bundles: list[dict[str, float]]  # what to ask for (`ray.autoscaler.sdk.request_resources(bundles=)`)

    def describe(self) -> str:
        """`2 node(s) of 1 CPU`, `1 node(s) of 8 CPU + 1 node(s) of 4 CPU`."""
        counts: dict[float, int] = {}
        for cpus in self.add:
            counts[cpus] = counts.get(cpus, 0) + 1
        return " + ".join(f"{n} node(s) of {cpus:g} CPU" for cpus, n in counts.items())


def addable(groups: list[NodeGroup], limit: int) -> list[float]:
    """The CPUs of each node the autoscaler may add, largest first, at most `limit` of each group."""
    extra = [g.cpus for g in groups for _ in range(limit if g.more is None else min(g.more, limit))]
    return sorted((c for c in extra if c > 0), reverse=True)


def scale_layout(
    config: EngineConfig, node_cpus: list[float], groups: list[NodeGroup], *, reads_files: bool = False
) -> ScaleUp:
    """Training's layout on what the cluster can become: on the nodes present when they hold every worker
    asked for, else on the fewest nodes the autoscaler may add (largest first) that do, else on the largest
    cluster it allows. RecipeError, one line, when not even that holds the workers."""
    extra = addable(groups, config.workers)
    fallback: ScaleUp | None = None
    for k in range(len(extra) + 1):
        shape = sorted(node_cpus + extra[:k], reverse=True)
        try:
            layout = train_layout(config, shape, reads_files=reads_files)
        except RecipeError as exc:
            if k < len(extra):
                continue
            if not extra:
                raise
            raise RecipeError(
                f"{exc}, even at the largest size its autoscaler allows ({growth(groups)})"
            ) from exc
        fallback = ScaleUp(layout, extra[:k], _bundles(config, shape, layout.workers) if k else [])
        if layout.workers == config.workers:
            return fallback
    assert fallback is not None  # k == len(extra) either returned, raised or set it
    return fallback


def _bundles(config: EngineConfig, shape: list[float], workers: int) -> list[dict[str, float]]:
    """One bundle per worker: cpus_per_worker, else the whole node it runs on (one worker per node)."""
    cpus = [float(config.cpus_per_worker)] * workers if config.cpus_per_worker else shape[:workers]
    gpus = {"GPU": float(config.gpus_per_worker)} if config.gpus_per_worker else {}
    return [{"CPU": c, **gpus} for c in cpus]


def growth(groups: list[NodeGroup]) -> str:
    """What the autoscaler may add, group by group."""
    return ", ".join(
        f"{g.name}: {'any number of' if g.more is None else f'up to {g.more} more'} node(s) of {g.cpus:g} CPU"
        for g in groups
    )


def trial_layout(
    config: EngineConfig,
    *,
    max_concurrent: int | None,
    num_samples: int,
    total_cpus: float,
    free_cpus: float | None = None,
) -> TrialLayout:
    """Trials at once: the recipe's max_concurrent, else as many as the CPUs take, never more than trials.

    `free_cpus` (a shared cluster): size for the CPUs free now, since more would only queue; when not even
    one trial's worth is free, size for the whole cluster (Tune starts trials as CPUs come free).
    """
    per_trial = float(config.cpus_per_worker or 1)
    basis = total_cpus if free_cpus is None or free_cpus < per_trial else free_cpus
    fit = max(1, int(basis // per_trial))
    limit = min(max_concurrent or fit, num_samples)
    return TrialLayout(cpus_per_trial=per_trial, limit=limit, at_once=min(limit, fit), basis_cpus=basis)
