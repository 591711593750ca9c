"""Engine `ray`: the facade the runner calls; each operation lives in its own module of this package.

This module imports no ray at load time (`mlscale plan` without an address never does): the modules that
do are imported by the methods that use them.

- Connection (connection.py): a private local Ray on 127.0.0.1, a `ray start` cluster, or Ray Client.
- Layout (layout.py, pure): workers x CPUs x threads, trial concurrency; `plan` and the
  run use the same functions.
- Training: `actors` (trainer_actors.py, default without retries) or `ray_train` (trainer_ray_train.py,
  default when engine.ray.max_failures > 0); train rows through the object store or read by each worker
  (train_data.py); rounds for the display (progress.py).
- Tuning (tuning.py): Ray Tune function trials, ASHA, resumable. Inference: a task per input file
  (parts.py); the test split, already in this process, is predicted here.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from mlscale.data import Dataset, SourceFiles
from mlscale.engines.base import (
    ClusterInfo,
    Elastic,
    Engine,
    EnginePlan,
    ExplainResult,
    OnProgress,
    OnTrial,
    PredictResult,
    TrainResult,
    TuneResult,
)
from mlscale.engines.ray.layout import (
    NodeGroup,
    ScaleUp,
    TrainLayout,
    TrialLayout,
    addable,
    growth,
    scale_layout,
    train_layout,
    trainer_name,
    trial_layout,
)
from mlscale.errors import RecipeError
from mlscale.modeling.model import Model
from mlscale.modeling.training import xgb_params
from mlscale.recipe.schema import EngineConfig, PredictConfig, TrainConfig, TuneConfig
from mlscale.scoring.predict import input_rows, predict_in_process
from mlscale.tuning import objective as rules

log = logging.getLogger("mlscale")


class RayEngine:
    """Runs a recipe's phases on a Ray cluster; returns plain results and never touches MLflow."""

    name = "ray"

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._owns_connection = False
        self._cluster: ClusterInfo | None = None
        self._node_cpus: list[float] = []
        self._groups: list[NodeGroup] = []  # what the cluster's autoscaler may add (start() reads them)
        self._requested = False  # a standing autoscaler request to clear in stop()

    # -- connection --------------------------------------------------------------------
    def start(self) -> ClusterInfo:
        """Connect (or start a private local Ray) and describe the cluster."""
        from mlscale.engines.ray import connection

        conn = connection.connect(self.config)
        self._owns_connection = self._owns_connection or conn.owned
        self._cluster, self._node_cpus = conn.cluster, conn.node_cpus
        if not self._client_mode():
            from mlscale.engines.ray import autoscale

            self._groups = autoscale.node_groups(self.config.ray.node_groups)
        try:
            layout = self._train_layout()
            conn.cluster.layout = f"{layout.workers} worker(s) x {layout.cpus:g} CPU ({layout.trainer})"
        except RecipeError:  # reported by plan(), which the runner asks before any work starts
            conn.cluster.layout = "does not fit the cluster"
        log.info(
            "ray %s: %d node(s), %g CPU, %g GPU at %s",
            conn.cluster.versions.get("ray"),
            conn.cluster.nodes,
            conn.cluster.cpus,
            conn.cluster.gpus,
            conn.cluster.address,
        )
        return conn.cluster

    def stop(self) -> None:
        """Clear this run's autoscaler request (so the cluster can shrink); shut Ray down if this engine
        started the connection."""
        if self._requested:
            from mlscale.engines.ray import autoscale

            autoscale.clear()
            self._requested = False
        if self._owns_connection:
            import ray

            ray.shutdown()
            self._owns_connection = False

    def _client_mode(self) -> bool:
        return (self.config.ray.address or "").startswith("ray://")

    def _shape(self) -> list[float]:
        """CPUs of each node with CPUs, largest first (this machine's before start; none on a cluster whose
        only node is a head without CPUs)."""
        return self._node_cpus if self._cluster else [float(os.cpu_count() or 1)]

    def _total_cpus(self, *, limit: int = 0) -> float:
        """The cluster's CPUs (this machine's before `start`), with what the autoscaler may add (at most
        `limit` nodes of each group)."""
        present = sum(self._node_cpus) if self._cluster else float(os.cpu_count() or 1)
        return present + sum(addable(self._groups, limit))

    def _shared_cluster(self) -> bool:
        return self._cluster is not None and not self._cluster.started_here

    # -- layout ------------------------------------------------------------------------
    def _scale(self) -> ScaleUp:
        """The training layout on what the cluster can become, and the nodes to ask for."""
        return scale_layout(self.config, self._shape(), self._groups)

    def _train_layout(self, *, reads_files: bool = False) -> TrainLayout:
        layout = scale_layout(self.config, self._shape(), self._groups, reads_files=reads_files).layout
        if layout.note:
            log.info("%s", layout.note)
        return layout

    def _trial_layout(self, tune: TuneConfig) -> TrialLayout:
        total = self._total_cpus(limit=tune.num_samples)  # trials beyond the nodes present make it grow
        free = None
        if self._shared_cluster() and not self._groups:  # connected: ray is imported already
            from mlscale.engines.ray import connection

            free = connection.free_cpus()
        return trial_layout(
            self.config,
            max_concurrent=tune.max_concurrent,
            num_samples=tune.num_samples,
            total_cpus=total,
            free_cpus=free,
        )

    # -- plan --------------------------------------------------------------------------
    def plan(self, train: TrainConfig, tune: TuneConfig | None, predict: PredictConfig | None) -> EnginePlan:
        """Check the recipe against the cluster's resources: refuse what could never be scheduled."""
        plan = EnginePlan()
        node_cpus = self._shape()
        total_cpus = sum(node_cpus)
        total_gpus = self._cluster.gpus if self._cluster else float(_visible_gpus())
        where = self._cluster.address if self._cluster else "a new local Ray instance"
        plan.steps.append(
            ("cluster", f"{where}: {len(node_cpus)} node(s), {total_cpus:g} CPU, {total_gpus:g} GPU")
        )
        if self._groups:
            plan.steps.append(("autoscaler", f"may add {growth(self._groups)}"))
        workers, cpus = self._plan_train(plan, total_gpus)
        if train.external_memory == "on" and trainer_name(self.config) == "ray_train":
            plan.problems.append(
                "train.external_memory: on needs engine.ray.trainer actors (Ray Train's trainer reads Ray "
                "Data into memory)"
            )
        if tune is not None:
            self._plan_tune(plan, tune, max(node_cpus + addable(self._groups, 1), default=0.0))
        if predict is not None:
            self._plan_predict(plan, predict, node_cpus)
        if self._shared_cluster() and not self.nodes_wanted():
            from mlscale.engines.ray import connection

            free = connection.free_cpus()
            if free < min(total_cpus, workers * cpus):
                plan.notes.append(
                    f"the cluster is busy: {free:g} of {total_cpus:g} CPU free now; the run waits for resources"
                )
        return plan

    def _plan_train(self, plan: EnginePlan, total_gpus: float) -> tuple[int, float]:
        gpus = self.config.gpus_per_worker
        reading = None
        try:
            scale = self._scale()
            layout = scale.layout
            workers, cpus, trainer = layout.workers, layout.cpus, layout.trainer
            if scale.add:
                plan.steps.append(
                    (
                        "scale",
                        f"asks the autoscaler for {scale.describe()}, waits up to "
                        f"{self.config.ray.scale_timeout_s:g} s (engine.ray.scale_timeout_s)",
                    )
                )
            if self._may_read_files():
                reading = scale_layout(self.config, self._shape(), self._groups, reads_files=True).layout
        except RecipeError as exc:
            plan.problems.append(str(exc))
            workers, cpus = self.config.workers, float(self.config.cpus_per_worker or 1)
            trainer = trainer_name(self.config)
        gpu_text = f" + {gpus:g} GPU" if gpus else ""
        plan.steps.append(
            (
                "train",
                f"{workers} worker(s) x {cpus:g} CPU{gpu_text} on {'cuda' if gpus else 'cpu'} ({trainer})",
            )
        )
        if reading is not None and reading.cpus != cpus:
            plan.notes.append(
                f"train: when workers read their train shard from files with Ray Data, each reserves "
                f"{reading.cpus:g} CPU and leaves {cpus - reading.cpus:g} to the read tasks"
            )
        if gpus and workers * gpus > total_gpus:
            plan.problems.append(
                f"engine.gpus_per_worker={gpus:g} x {workers} worker(s) needs {workers * gpus:g} GPU, "
                f"the cluster has {total_gpus:g}"
            )
        return workers, cpus

    def _may_read_files(self) -> bool:
        """Whether workers may read their train shard themselves (when the data comes from files)."""
        mode = self.config.ray.train_data
        if mode == "object_store" or self._client_mode():
            return False
        return mode == "ray_data" or len(self._shape()) >= 2

    def _plan_tune(self, plan: EnginePlan, tune: TuneConfig, largest_node: float) -> None:
        layout = self._trial_layout(tune)
        per_trial = layout.cpus_per_trial
        if per_trial > largest_node:
            plan.problems.append(
                f"engine.cpus_per_worker={per_trial:g}: a tune trial needs {per_trial:g} CPU on one node, "
                f"the largest node has {largest_node:g}"
            )
        if layout.limit > layout.at_once:
            plan.notes.append(
                f"tune.max_concurrent={layout.limit}: only {layout.at_once} trial(s) of {per_trial:g} CPU "
                "fit at once"
            )
        asha = f", ASHA after {tune.grace_period} rounds" if tune.scheduler == "asha" else ""
        plan.steps.append(
            (
                "tune",
                f"{tune.num_samples} trials x {per_trial:g} CPU, {layout.at_once} at a time ({tune.algorithm}{asha})",
            )
        )

    def _plan_predict(self, plan: EnginePlan, predict: PredictConfig, node_cpus: list[float]) -> None:
        batches = f"batches of {predict.batch_size} rows"
        if self._client_mode():
            plan.steps.append(("predict", f"in this process over Ray Client, {batches}"))
        elif predict.input is None:
            plan.steps.append(("predict", f"the test split in this process, {batches}"))
        else:
            writes = "each writes its part" if predict.dataset else "the driver writes one file in order"
            plan.steps.append(
                (
                    "predict",
                    f"a task per input file x 1 CPU over {len(node_cpus)} node(s), {writes}; {batches}",
                )
            )

    # -- train -------------------------------------------------------------------------
    def train(self, data: Dataset, train: TrainConfig, *, progress: OnProgress | None = None) -> TrainResult:
        """Fit one model on the cluster's workers with the trainer the recipe asks for."""
        from mlscale.engines.ray import trainer_actors, trainer_ray_train
        from mlscale.engines.ray.train_data import readable_files

        files: SourceFiles | None = readable_files(self.config, data, client_mode=self._client_mode())
        layout = self._train_layout(reads_files=files is not None)
        device = "cuda" if self.config.gpus_per_worker > 0 else None
        params = xgb_params(train, data.schema, nthread=layout.threads, device=device)
        if data.stream is not None and layout.trainer == "ray_train":
            raise RecipeError(
                "ray: train.external_memory needs engine.ray.trainer actors (Ray Train's trainer reads Ray Data "
                "into memory); set engine.ray.trainer: actors, or train.external_memory: off"
            )
        if layout.trainer == "ray_train":
            storage = self.config.ray.storage_path or str(rules.state_home() / "ray_train")
            return trainer_ray_train.train_ray_train(
                self.config, data, train, params, layout, storage=storage, progress=progress, files=files
            )
        return trainer_actors.train_actors(
            data,
            train,
            params,
            layout,
            gpus=self.config.gpus_per_worker,
            nodes=len(self._node_cpus),
            progress=progress,
            files=files,
            reserve_timeout_s=self._reserve_timeout_s(),
        )

    def _reserve_timeout_s(self) -> float:
        """The actors trainer's wait for its workers: never shorter than the wait for new nodes."""
        from mlscale.engines.ray.trainer_actors import RESERVE_TIMEOUT_S

        return max(RESERVE_TIMEOUT_S, self.config.ray.scale_timeout_s) if self._groups else RESERVE_TIMEOUT_S

    # -- autoscaling -------------------------------------------------------------------
    def nodes_wanted(self) -> int:
        """Nodes the run will ask the autoscaler for (0 on a cluster of fixed size, or when the nodes
        present hold the layout)."""
        if not self._groups:
            return 0
        try:
            return len(self._scale().add)
        except RecipeError:  # refused by plan() before the run starts
            return 0

    def scale_up(self, *, progress: OnProgress | None = None) -> None:
        """Ask the autoscaler for the nodes the layout needs and wait for them (engine.ray.scale_timeout_s);
        the request stands until stop(), so tuning and predict keep the nodes."""
        from mlscale.engines.ray import autoscale

        scale = self._scale()
        if not scale.add:
            return

        def ready(nodes: list[float]) -> bool:
            try:
                return train_layout(self.config, nodes).workers >= scale.layout.workers
            except RecipeError:
                return False

        self._requested = True
        self._node_cpus = autoscale.wait_for_nodes(
            scale, ready=ready, timeout_s=self.config.ray.scale_timeout_s, progress=progress
        )
        self._groups = autoscale.node_groups(self.config.ray.node_groups)  # less what came up

    # -- tune --------------------------------------------------------------------------
    def tune(
        self,
        data: Dataset,
        train: TrainConfig,
        tune: TuneConfig,
        *,
        on_trial: OnTrial,
        state_dir: Path,
        resume: bool = False,
    ) -> TuneResult:
        """Search `tune.space` with Ray Tune; `resume` continues an interrupted experiment in `state_dir`."""
        from mlscale.engines.ray import tuning

        layout = self._trial_layout(tune)
        total = self._total_cpus()
        log.info(
            "tune: up to %d trial(s) at once (%g of %g CPU free)", layout.limit, layout.basis_cpus, total
        )
        return tuning.run_tune(
            data, train, tune, layout, on_trial=on_trial, state_dir=state_dir, resume=resume
        )

    # -- predict -----------------------------------------------------------------------
    def predict(
        self,
        model: Model,
        predict: PredictConfig,
        *,
        data: Dataset | None,
        where: str,
        progress: OnProgress | None = None,
    ) -> PredictResult:
        """Input files: one Ray task per file (parts.py). The test split (already in this process's
        memory) and anything over Ray Client: in this process."""
        test_frame = None if data is None else data.test_frame
        if predict.input is not None and not self._client_mode():
            from mlscale.engines.ray import parts

            total = input_rows(predict, test_frame=test_frame, where=where) if progress else None
            if predict.dataset:
                return parts.predict_files(model, predict, where=where, progress=progress, total=total)
            in_flight = max(2, int(2 * self._total_cpus()))
            return parts.predict_files_to_one(
                model, predict, where=where, progress=progress, total=total, in_flight=in_flight
            )
        if self._client_mode() and predict.input is not None:
            log.info("predict: over Ray Client (ray://) the input is read and predicted in this process")
        return predict_in_process(model, predict, test_frame=test_frame, where=where, progress=progress)

    # -- explain -----------------------------------------------------------------------
    def explain(self, model: Model, x: pd.DataFrame) -> ExplainResult:
        """SHAP contributions in Ray tasks on the cluster (as many parts as training has workers, each
        with a training worker's CPUs and threads), never in this process."""
        from mlscale.engines.ray.explain import explain_on_cluster

        layout = self._train_layout()
        return explain_on_cluster(model, x, tasks=layout.workers, cpus=layout.cpus, threads=layout.threads)


def _visible_gpus() -> int:
    """GPUs a new local Ray instance would see (what Ray's own detection counts: nvidia-smi)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES") is not None:
        return len([d for d in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if d.strip()])
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


if TYPE_CHECKING:  # mypy checks the engine against the protocol here; nothing runs

    def _conforms(config: EngineConfig) -> Engine:
        return RayEngine(config)

    def _grows(config: EngineConfig) -> Elastic:
        return RayEngine(config)
