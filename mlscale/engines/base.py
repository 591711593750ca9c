"""The engine interface (three verbs plus start/stop) and the plain results engines return.

Engines never touch MLflow: they return these objects and the runner logs them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

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
    model: Model
    history: dict[str, dict[str, list[float]]]
    rounds: int
    placement: list[dict[str, Any]] = field(default_factory=list)  # one entry per worker: node id, rank
    failures: int = 0
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrialResult:
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
    trials: list[TrialResult]
    best: TrialResult
    best_model: Model
    metric: str
    mode: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class PredictResult:
    output: Path
    rows: int
    seconds: float
    unseen_categories: dict[str, int] = field(default_factory=dict)
    placement: list[dict[str, Any]] = field(default_factory=list)


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
    name: str

    def start(self) -> ClusterInfo: ...

    def plan(
        self, train: TrainConfig, tune: TuneConfig | None, predict: PredictConfig | None
    ) -> EnginePlan: ...

    def train(
        self, data: Dataset, train: TrainConfig, *, progress: OnProgress | None = None
    ) -> TrainResult: ...

    def tune(
        self,
        data: Dataset,
        train: TrainConfig,
        tune: TuneConfig,
        *,
        on_trial: OnTrial,
        state_dir: Path,
        resume: bool = False,
    ) -> TuneResult: ...

    def predict(
        self,
        model: Model,
        predict: PredictConfig,
        *,
        data: Dataset | None,
        where: str,
        progress: OnProgress | None = None,
    ) -> PredictResult: ...

    def stop(self) -> None: ...
