"""The typed results every engine returns; the runner, tracking and predicting read only these fields.

Engines never touch MLflow: they return these objects and the runner logs them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlscale.modeling.model import Model


@dataclass
class ClusterInfo:
    """Where a run executes; logged as tags so laptop and cluster runs can be grouped.

    `versions`: the engine's own software by name ({"ray": "2.60.0"}), each logged as
    `cluster.<name>_version`."""

    engine: str
    nodes: int = 1
    cpus: float = 0
    gpus: float = 0
    versions: dict[str, str] = field(default_factory=dict)
    address: str | None = None
    started_here: bool = False
    layout: str = ""  # e.g. "1 worker x 2 CPU (actors)"

    def tags(self) -> dict[str, str]:
        """The run's cluster.* tags."""
        return {
            "engine": self.engine,
            "cluster.nodes": str(self.nodes),
            "cluster.cpus": f"{self.cpus:g}",
            "cluster.gpus": f"{self.gpus:g}",
            **{f"cluster.{name}_version": version for name, version in self.versions.items()},
            "cluster.layout": self.layout,
            "cluster.shape": f"{self.nodes}n-{self.cpus:g}cpu-{self.gpus:g}gpu",
        }


@dataclass(frozen=True, kw_only=True)
class Placement:
    """Where one part of the work ran: a training worker (rank, pid) or a predict task/actor (rows)."""

    node: str
    rank: int | None = None
    pid: int | None = None
    rows: int | None = None
    resumed_from_round: int = 0  # a Ray Train worker restarted from a checkpoint of this round


@dataclass
class TrainResult:
    """A trained model, its per-round history ({"valid": {"logloss": [...]}}) and where it was trained.

    `details`: how the engine trained (trainer, workers, ...), logged as `train.<key>` tags as a whole."""

    model: Model
    history: dict[str, dict[str, list[float]]]
    rounds: int
    placement: list[Placement] = field(default_factory=list)  # one entry per worker
    failures: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def resumed_from_round(self) -> int:
        """The latest checkpoint round any worker restarted from (0: none)."""
        return max((p.resumed_from_round for p in self.placement), default=0)


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
    """Every trial, the best one and its model. `trials_restored`: trials finished before an interruption
    and taken over on resume; `details`: how the engine tuned (descriptive, never read by key)."""

    trials: list[TrialResult]
    best: TrialResult
    best_model: Model
    metric: str
    mode: str
    trials_restored: int = 0
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class PredictResult:
    """Where the predictions went, how many rows, and unseen categories counted per column."""

    output: Path
    rows: int
    seconds: float
    unseen_categories: dict[str, int] = field(default_factory=dict)
    placement: list[Placement] = field(default_factory=list)  # rows per node


@dataclass
class EnginePlan:
    """What an engine will run where, and why it cannot (problems) or may have to wait (notes)."""

    steps: list[tuple[str, str]] = field(default_factory=list)  # (phase, what runs where)
    problems: list[str] = field(default_factory=list)  # any problem: the run is refused before it starts
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class ExplainedPart:
    """Where one part of an explanation was computed: its rows, the node and the process."""

    rows: int
    node: str  # Ray node id, or "local"
    pid: int
    seconds: float


@dataclass
class ExplainResult:
    """xgboost's contributions (`mlscale.assess.explanations.contributions`) for the rows asked, in their order,
    and where each part was computed."""

    values: Any  # numpy array: (rows, features + 1), or (rows, classes, features + 1) for multiclass
    parts: list[ExplainedPart] = field(default_factory=list)
    seconds: float = 0.0


OnTrial = Callable[[TrialResult], None]
OnProgress = Callable[[str, Mapping[str, Any]], None]
"""Progress events for a front end (the CLI's progress bars): ("phase", {"name"}), ("phase_done",
{"name", "seconds"}), ("trial", {"done", "total", "best", "status"}), ("round", {"round", "total",
"metrics"}) while training, ("rows", {"done", "total"}) while predicting (total None when unknown),
("nodes", {"up", "want", "seconds"}) while an autoscaler adds nodes (with "unit": "workers" while an
adaptive Dask cluster adds workers).
Never required; errors in it are ignored, and it may be called from a background thread. Engines send the
events within a phase ("round", "rows"), the run the others."""
