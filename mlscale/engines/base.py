"""The engine interface (three verbs plus start/stop); the results it returns live in `mlscale.results`
and are re-exported here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import pandas as pd

from mlscale.data import Dataset
from mlscale.modeling.model import Model
from mlscale.recipe.schema import PredictConfig, TrainConfig, TuneConfig
from mlscale.results import (
    ClusterInfo,
    EnginePlan,
    ExplainedPart,
    ExplainResult,
    OnProgress,
    OnTrial,
    Placement,
    PredictResult,
    TrainResult,
    TrialResult,
    TuneResult,
)

__all__ = [
    "ClusterInfo",
    "Elastic",
    "Engine",
    "EnginePlan",
    "ExplainResult",
    "ExplainedPart",
    "OnProgress",
    "OnTrial",
    "Placement",
    "PredictResult",
    "TrainResult",
    "TrialResult",
    "TuneResult",
]


class Engine(Protocol):
    """What the runner asks of an engine. An engine trains xgboost models (the `Model` it returns holds an
    xgboost Booster and the FeatureSchema it was trained with), never touches MLflow, and raises
    `MlscaleError` subclasses with one-line messages (`EngineError` for the cluster, `DataError` for input).

    Call order, as the runner makes it: `plan` may come before `start` (`mlscale plan` without an address
    never starts anything) and must then describe this machine; `start` once; then `train`, `tune`,
    `predict`, `explain` in any order and number; `stop` always last, also after a failure or an interrupt, and it
    must be safe to call when `start` failed or never ran. A new engine registers its class with
    `mlscale.engine_names` (entry point `mlscale.engines`) and is checked against this protocol by mypy
    (see `_conforms` at the bottom of `local.py`)."""

    name: str

    def start(self) -> ClusterInfo:
        """Connect to or start the compute the engine uses; say what it is (logged as tags)."""
        ...

    def plan(self, train: TrainConfig, tune: TuneConfig | None, predict: PredictConfig | None) -> EnginePlan:
        """What would run where; `problems` refuse the run before any MLflow run starts. Pure: no training."""
        ...

    def train(self, data: Dataset, train: TrainConfig, *, progress: OnProgress | None = None) -> TrainResult:
        """One model on `data.x_train` early-stopped on `data.x_valid`, the same for the same seed as
        `mlscale.modeling.training.fit` (metrics are computed by the runner, not here)."""
        ...

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
        """Search `tune.space`; call `on_trial` once per finished trial (the runner logs it). `state_dir` is
        this run's own directory (locked by the runner): keep what `resume=True` needs to run only the
        missing trials there. Raise `TuningError` when no trial completed."""
        ...

    def predict(
        self,
        model: Model,
        predict: PredictConfig,
        *,
        data: Dataset | None,
        where: str,
        progress: OnProgress | None = None,
    ) -> PredictResult:
        """Score `predict.input` (or `data.test_frame` when it is None) and write `predict.output`
        atomically: one file, or a partitioned directory when `predict.dataset` (see
        `mlscale.scoring.partitioned`). `where` prefixes error messages ("recipe.yaml: predict")."""
        ...

    def explain(self, model: Model, x: pd.DataFrame) -> ExplainResult:
        """SHAP contributions of the typed feature rows `x` (a sample of the test split, small enough to
        pass by value), computed where the engine computes: in this process, or on the cluster. Values
        equal `mlscale.assess.explanations.contributions(model.booster, x)`."""
        ...

    def stop(self) -> None:
        """Release what `start` took; never fails."""
        ...


@runtime_checkable
class Elastic(Protocol):
    """An engine on a cluster that can grow for the run: the runner asks it, inside the run and timed as
    `time_scale_s`, for the nodes its plan needs (`nodes_wanted`), before the first phase that uses them.
    `stop` releases what was asked for."""

    def nodes_wanted(self) -> int:
        """How many nodes the run will ask the cluster's autoscaler for (workers, of an adaptive Dask
        cluster; 0: those present do)."""
        ...

    def scale_up(self, *, progress: OnProgress | None = None) -> None:
        """Ask for those nodes and wait for them; EngineError (one line) after the engine's timeout."""
        ...
