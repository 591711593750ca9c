"""What one run's phases share: the run's inputs, a phase timer, and what each phase produced so far.

A phase is a function `phase(ctx: RunContext) -> None` (see `mlscale.workflow.phases.PHASES`); it reads the fields
earlier phases set and sets its own. Metrics go through `ctx.publish` as soon as they are known.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlscale.assess.reference import ReferenceResult
from mlscale.data import Dataset
from mlscale.engines.base import Engine
from mlscale.errors import MlscaleError
from mlscale.modeling.model import Model
from mlscale.recipe import Recipe
from mlscale.results import ClusterInfo, OnProgress, TuneResult
from mlscale.tracking import runs as tracking
from mlscale.tracking.promotion import Promotion

log = logging.getLogger("mlscale")


class Timer:
    """Times each phase (`time_<name>_s`) and forwards progress events to the front end."""

    def __init__(self, progress: OnProgress | None = None) -> None:
        self.timings: dict[str, float] = {}
        self.progress = progress

    def emit(self, kind: str, info: Mapping[str, Any]) -> None:
        """One progress event; a failing display is logged at debug level and otherwise ignored."""
        if self.progress is not None:
            try:
                self.progress(kind, info)
            except Exception:  # a display problem must never fail a run
                log.debug("progress callback failed", exc_info=True)

    @property
    def on_progress(self) -> OnProgress | None:
        """What an engine gets as `progress`: None when nobody displays it."""
        return self.emit if self.progress else None

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block as phase `name`, announced to the front end before and after."""
        started = time.perf_counter()
        self.emit("phase", {"name": name})
        try:
            yield
        finally:
            self.timings[f"time_{name}_s"] = round(time.perf_counter() - started, 4)
            self.emit("phase_done", {"name": name, "seconds": self.timings[f"time_{name}_s"]})


@dataclass(kw_only=True)
class RunContext:
    """One run: its inputs (set by the runner) and its outputs so far (set by the phases)."""

    recipe: Recipe
    data: Dataset
    engine: Engine
    tracker: tracking.RunTracker
    cluster: ClusterInfo
    timer: Timer
    source: str
    state_dir: Path
    total_started: float
    resume: bool = False
    external_model: Model | None = None  # predict.model: predict with it instead of the trained model
    # Set by the phases, in order.
    trained_model: Model | None = None  # the run's model: the trained one, then the best trial's
    history: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # the run's model on valid/test
    tune_result: TuneResult | None = None
    reference: ReferenceResult | None = None
    quality_warning: str | None = None
    model_uri: str | None = None
    plots: list[Path] = field(default_factory=list)
    output: Path | None = None
    promotion: Promotion | None = None  # what mlflow.promote decided for this run's version
    report: Path | None = None  # report.html beside predict.output (or in output/), also logged
    logged: dict[str, float] = field(default_factory=dict)  # every metric published so far

    @property
    def model(self) -> Model:
        """The run's model; a phase that needs it runs after `train`."""
        if self.trained_model is None:
            raise MlscaleError("run: no model yet (the train phase has not run)")
        return self.trained_model

    def publish(self, values: Mapping[str, float]) -> None:
        """Log metrics as soon as they are known, each value once: a later failure keeps the work done."""
        new = {k: v for k, v in values.items() if self.logged.get(k) != v}
        if new:
            self.tracker.log_metrics(new)
            self.logged.update(new)
