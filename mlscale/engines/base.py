"""The engine interface (three verbs plus start/stop) and the plain results engines return.

Engines never touch MLflow: they return these objects and the runner logs them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from mlscale.data import Dataset
from mlscale.model import Model
from mlscale.recipe.schema import PredictConfig, TrainConfig, TuneConfig


@dataclass
class ClusterInfo:
    """Where a run executes; logged as tags so laptop and cluster runs can be grouped."""

    engine: str
    nodes: int = 1
    cpus: float = 0
    gpus: float = 0
    ray_version: str | None = None
    address: str | None = None
    started_here: bool = False
    layout: str = ""  # e.g. "1 worker x 2 CPU (actors)"

    def tags(self) -> dict[str, str]:
        return {
            "engine": self.engine,
            "cluster.nodes": str(self.nodes),
            "cluster.cpus": f"{self.cpus:g}",
            "cluster.gpus": f"{self.gpus:g}",
            "cluster.ray_version": self.ray_version or "",
            "cluster.layout": self.layout,
            "cluster.shape": f"{self.nodes}n-{self.cpus:g}cpu-{self.gpus:g}gpu",
        }


@dataclass
class TrainResult:
    """A trained model, its per-round history ({"valid": {"logloss": [...]}}) and where it was trained."""

    model: Model
    history: dict[str, dict[str, list[float]]]
    rounds: int
    placement: list[dict[str, Any]] = field(default_factory=list)  # one entry per worker: node id, rank
    failures: int = 0
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrialResult:
    """One tuning trial: its parameters, its score on `metric` and its valid_* metrics."""

    trial_id: str
    number: int
    params: dict[str, Any]
    metric: float
    metrics: dict[str, float]
    seconds: float
    rounds: int
    status: str = "completed"  # completed | pruned | failed
    model: Model | None = None


@dataclass
class TuneResult:
    """Every trial, the best one and its model; `details["trials_restored"]`: trials taken over on resume."""

    trials: list[TrialResult]
    best: TrialResult
    best_model: Model
    metric: str
    mode: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class PredictResult:
    """Where the predictions went, how many rows, and unseen categories counted per column."""

    output: Path
    rows: int
    seconds: float
    unseen_categories: dict[str, int] = field(default_factory=dict)
    placement: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class ExplainedPart:
    """Where one part of an explanation was computed: its rows, the node and the process."""

    rows: int
    node: str  # Ray node id, or "local"
    pid: int
    seconds: float


@dataclass
class ExplainResult:
    """xgboost's contributions (`mlscale.explaining.contributions`) for the rows asked, in their order,
    and where each part was computed."""

    values: Any  # numpy array: (rows, features + 1), or (rows, classes, features + 1) for multiclass
    parts: list[ExplainedPart] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class EnginePlan:
    """What an engine will run where, and why it cannot (problems) or may have to wait (notes)."""

    steps: list[tuple[str, str]] = field(default_factory=list)  # (phase, what runs where)
    problems: list[str] = field(default_factory=list)  # any problem: the run is refused before it starts
    notes: list[str] = field(default_factory=list)


OnTrial = Callable[[TrialResult], None]
OnProgress = Callable[[str, Mapping[str, Any]], None]
"""Progress within a phase, for a live display: ("round", {"round", "total", "metrics"}) while training
and ("rows", {"done", "total"}) while predicting (total None when the input's size is unknown)."""


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
        `mlscale.training.fit` (metrics are computed by the runner, not here)."""
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
        `mlscale.partitioned`). `where` prefixes error messages ("recipe.yaml: predict")."""
        ...

    def explain(self, model: Model, x: pd.DataFrame) -> ExplainResult:
        """SHAP contributions of the typed feature rows `x` (a sample of the test split, small enough to
        pass by value), computed where the engine computes: in this process, or on the cluster. Values
        equal `mlscale.explaining.contributions(model.booster, x)`."""
        ...

    def stop(self) -> None:
        """Release what `start` took; never fails."""
        ...
