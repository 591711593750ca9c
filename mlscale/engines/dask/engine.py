"""Engine `dask`: the facade the runner calls; each operation lives in its own module of this package.

This module imports no dask at load time (`mlscale plan` without an address never does): the modules that
do are imported by the methods that use them.

- Connection (connection.py): a private LocalCluster on 127.0.0.1, a running scheduler, or the process's
  own Client (a notebook's), never closed.
- Adaptive scaling (adaptive.py): the private cluster between engine.dask.adapt's bounds; training waits
  for its workers (the `scale` phase), the other phases for one and grow it with their tasks.
- Layout (layout.py, pure): which workers train, with how many threads; `plan` and the run use the same
  functions.
- Training (trainer.py): `xgboost.dask` over partitions the workers read themselves (train_data.py).
- Tuning (tuning.py): single-process trials on the workers, the Optuna study in this process.
- Inference (parts.py): a task per input file; the test split, already in this process, is predicted here.
- Explanations (explain.py): SHAP contributions in tasks on the workers.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from mlscale.data import Dataset
from mlscale.engines.base import (
    ClusterInfo,
    Engine,
    EnginePlan,
    ExplainResult,
    OnProgress,
    OnTrial,
    PredictResult,
    TrainResult,
    TuneResult,
)
from mlscale.engines.dask.layout import TrainLayout, WorkerInfo, private_shape, train_layout
from mlscale.errors import RecipeError
from mlscale.modeling.model import Model
from mlscale.modeling.training import xgb_params
from mlscale.recipe.schema import EngineConfig, PredictConfig, TrainConfig, TuneConfig
from mlscale.scoring.predict import input_rows, predict_in_process

if TYPE_CHECKING:
    import distributed

    from mlscale.engines.dask.connection import Connection

log = logging.getLogger("mlscale")


class DaskEngine:
    """Runs a recipe's phases on a Dask cluster; returns plain results and never touches MLflow."""

    name = "dask"

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._conn: Connection | None = None

    # -- connection --------------------------------------------------------------------
    def start(self) -> ClusterInfo:
        """Connect (or start a private LocalCluster) and describe the cluster."""
        from mlscale.engines.dask import connection

        conn = connection.connect(self.config)
        self._conn = conn
        try:
            conn.cluster.layout = self._layout().describe()
        except RecipeError:  # reported by plan(), which the runner asks before any work starts
            conn.cluster.layout = "does not fit the cluster"
        adapt = self.config.dask.adapt if conn.adaptive is not None else None
        log.info(
            "dask %s: %d worker(s)%s, %g thread(s) at %s",
            conn.cluster.versions.get("dask"),
            len(conn.workers),
            f" (adaptive, up to {adapt.maximum})" if adapt else "",
            conn.cluster.cpus,
            conn.cluster.address,
        )
        return conn.cluster

    def stop(self) -> None:
        """Close the client and the private cluster this engine started (never a notebook's client)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def client(self) -> distributed.Client:
        """The connected client (after `start`), for the modules that run work on the cluster."""
        if self._conn is None:
            raise RuntimeError("engine dask: start() first")
        return self._conn.client

    @property
    def workers(self) -> list[WorkerInfo]:
        """The cluster's workers, most threads first: the connected cluster's, or the private one `start`
        would make (an adaptive one's at its largest until it has the workers training needs)."""
        conn = self._conn
        if conn is not None and conn.adaptive is None:
            return conn.workers
        if conn is not None:
            from mlscale.engines.dask.layout import workers_of
            from mlscale.engines.dask.scheduler import scheduler_identity

            present = workers_of(scheduler_identity(conn.client))
            if len(present) >= self.config.workers:
                return present
        count, threads = private_shape(self.config, os.cpu_count() or 1)
        return [WorkerInfo(address=f"local-{i}", threads=threads, host="127.0.0.1") for i in range(count)]

    # -- adaptive scaling --------------------------------------------------------------
    def nodes_wanted(self) -> int:
        """Workers training waits for on an adaptive private cluster beyond those up (0 on any other)."""
        conn = self._conn
        if conn is None or conn.adaptive is None:
            return 0
        return max(0, self.config.workers - conn.adaptive.count())

    def scale_up(self, *, progress: OnProgress | None = None) -> None:
        """Keep training's workers on the adaptive cluster and wait for them (engine.dask.scale_timeout_s);
        `train` sets the recipe's minimum back after the fit."""
        conn = self._conn
        if conn is not None and conn.adaptive is not None:
            conn.adaptive.keep(self.config.workers)
            conn.adaptive.wait_for(
                self.config.workers, timeout_s=self.config.dask.scale_timeout_s, progress=progress
            )

    @contextlib.contextmanager
    def _holding(self, want: int) -> Iterator[None]:
        """`want` workers kept up on an adaptive private cluster for the block (nothing on any other)."""
        conn = self._conn
        if conn is None or conn.adaptive is None:
            yield
            return
        with conn.adaptive.holding(want, timeout_s=self.config.dask.scale_timeout_s):
            yield

    def _layout(self) -> TrainLayout:
        layout = train_layout(self.config, self.workers)
        if layout.note:
            log.info("%s", layout.note)
        return layout

    # -- plan --------------------------------------------------------------------------
    def plan(self, train: TrainConfig, tune: TuneConfig | None, predict: PredictConfig | None) -> EnginePlan:
        """Check the recipe against the scheduler's workers: refuse what could never run."""
        plan = EnginePlan()
        where = self._conn.cluster.address if self._conn else "a new private LocalCluster on 127.0.0.1"
        try:
            workers = self.workers
            threads = sum(w.threads for w in workers)
            if self.config.dask.adapt is None:
                plan.steps.append(("cluster", f"{where}: {len(workers)} worker(s), {threads} thread(s)"))
            else:
                plan.steps.extend(_adaptive_steps(self.config, workers, where))
            layout = self._layout()
            memory = [w.memory for w in layout.workers if w.memory]
            limit = f", {min(memory) / 2**30:.1f} GiB each" if memory else ""
            plan.steps.append(("train", f"{layout.describe()}{limit} on cpu (xgboost.dask)"))
        except RecipeError as exc:
            plan.problems.append(str(exc))
        if self.config.gpus_per_worker:
            plan.problems.append(
                f"engine.gpus_per_worker={self.config.gpus_per_worker:g}: engine dask trains on CPU workers; "
                "use engine ray or local for GPUs"
            )
        if train.external_memory == "on":
            plan.problems.append(
                "train.external_memory: on is not supported by engine dask; use engine ray (trainer actors) "
                "or engine local"
            )
        if tune is not None:
            threads = max(1, int(self.config.cpus_per_worker or 1))
            asha = f", ASHA after {tune.grace_period} rounds" if tune.scheduler == "asha" else ""
            plan.steps.append(
                (
                    "tune",
                    f"{tune.num_samples} trials x {threads} thread(s), single-process fits on the workers "
                    f"as their threads free up ({tune.algorithm}{asha})",
                )
            )
        if predict is not None:
            plan.steps.append(("predict", _predict_step(predict)))
        return plan

    # -- train -------------------------------------------------------------------------
    def train(self, data: Dataset, train: TrainConfig, *, progress: OnProgress | None = None) -> TrainResult:
        """Fit one model with xgboost.dask on the layout's workers."""
        from mlscale.engines.dask.trainer import train_dask

        if data.stream is not None:
            raise RecipeError(
                "dask: the data needs train.external_memory, which engine dask does not support; use engine "
                "ray (trainer actors) or engine local, or set train.external_memory: off"
            )
        with self._holding(self.config.workers):  # xgboost's collective: no worker of the fit retired
            layout = self._layout()
            params = xgb_params(train, data.schema, nthread=layout.threads)
            return train_dask(
                self.client,
                data,
                train,
                params,
                layout,
                timeout=self.config.dask.collective_timeout,
                progress=progress,
            )

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
        """Optuna trials as single-process fits on the workers, as many at once as their threads take
        (tuning.py); the study stays in `state_dir` here, so `resume` runs only the missing trials."""
        from mlscale.engines.dask.tuning import Growth, run_tune

        threads = max(1, int(self.config.cpus_per_worker or 1))
        growth = None
        if self._conn is not None and self._conn.adaptive is not None:
            most, each = private_shape(self.config, os.cpu_count() or 1)
            growth = Growth(most, max(1, each // threads), self._conn.adaptive.keep)
        with self._holding(1):  # the home of the scattered rows; the trials ask for more
            return run_tune(
                self.client,
                data,
                train,
                tune,
                threads_per_trial=threads,
                on_trial=on_trial,
                state_dir=state_dir,
                resume=resume,
                growth=growth,
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
        """Input files: a task per file on the workers (parts.py). The test split, already in this process's
        memory, is predicted here."""
        test_frame = None if data is None else data.test_frame
        if predict.input is None:
            return predict_in_process(model, predict, test_frame=test_frame, where=where, progress=progress)
        from mlscale.engines.dask import parts

        total = input_rows(predict, test_frame=test_frame, where=where) if progress else None
        in_flight = max(2, 2 * sum(w.threads for w in self.workers))
        with self._holding(1):  # the home of the scattered model; the file tasks waiting grow the cluster
            if predict.dataset:
                return parts.predict_files(
                    self.client, model, predict, where=where, progress=progress, total=total
                )
            return parts.predict_files_to_one(
                self.client, model, predict, where=where, progress=progress, total=total, in_flight=in_flight
            )

    # -- explain -----------------------------------------------------------------------
    def explain(self, model: Model, x: pd.DataFrame) -> ExplainResult:
        """SHAP contributions in tasks on the workers (as many parts as training has workers, each with a
        training worker's threads), never in this process."""
        from mlscale.engines.dask.explain import explain_on_cluster

        layout = self._layout()
        with self._holding(1):
            return explain_on_cluster(
                self.client, model, x, tasks=len(layout.workers), threads=layout.threads
            )


def _adaptive_steps(
    config: EngineConfig, largest: list[WorkerInfo], where: str | None
) -> list[tuple[str, str]]:
    """What `plan` says of an adaptive private cluster: its range, and what the run asks of it."""
    adapt = config.dask.adapt
    assert adapt is not None
    each = largest[0].threads if largest else 1
    return [
        (
            "cluster",
            f"{where}: adaptive, {adapt.minimum} to {adapt.maximum} worker(s) x {each} thread(s) "
            "(engine.dask.adapt)",
        ),
        (
            "scale",
            f"keeps {config.workers} worker(s) up for training and waits up to {config.dask.scale_timeout_s:g} s "
            f"for them (engine.dask.scale_timeout_s); tune keeps as many as its trials at once fill, up to "
            f"{adapt.maximum}; predict keeps 1 (Dask's adaptive loop may add more for its waiting tasks)",
        ),
    ]


def _predict_step(predict: PredictConfig) -> str:
    batches = f"batches of {predict.batch_size} rows"
    if predict.input is None:
        return f"the test split in this process, {batches}"
    writes = "each writes its part" if predict.dataset else "the driver writes one file in order"
    return f"a task per input file on the workers, {writes}; {batches}"


if TYPE_CHECKING:  # mypy checks the engine against the protocol here; nothing runs

    def _conforms(config: EngineConfig) -> Engine:
        return DaskEngine(config)
