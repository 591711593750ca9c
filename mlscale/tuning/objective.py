"""Decisions every engine and the runner share, made in one place so they cannot drift apart.

- the tune objective: metric (a recipe's or the task's default) and its direction;
- the promotion metric (mlflow.promote) and its direction;
- the best trial of a study;
- the message when no trial completed;
- where mlscale keeps state between runs (MLSCALE_HOME, read at call time).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol, TypeVar

from mlscale.errors import TuningError
from mlscale.modeling.metrics import DEFAULT_TUNE_METRIC, PRIMARY
from mlscale.recipe.schema import PromoteConfig, TuneConfig, metric_mode
from mlscale.tuning import state

Mode = Literal["min", "max"]


class _Scored(Protocol):
    @property
    def status(self) -> str: ...

    @property
    def metric(self) -> float: ...


T = TypeVar("T", bound=_Scored)


def tune_objective(tune: TuneConfig, task: str) -> tuple[str, Mode]:
    """(metric, mode) a study optimizes: the recipe's, else the task's default and the metric's direction."""
    metric = tune.metric or DEFAULT_TUNE_METRIC[task]
    return metric, tune.mode or metric_mode(metric)


def promote_objective(promote: PromoteConfig, task: str) -> tuple[str, Mode]:
    """(metric, mode) a promotion compares: the recipe's test_* metric, else test_<the task's primary>."""
    metric = promote.metric or f"test_{PRIMARY[task]}"
    return metric, metric_mode(metric)


def best_value(values: Sequence[float], mode: Mode) -> float | None:
    """The best of some metric values in `mode`, NaNs left out; None when there is none."""
    scored = [v for v in values if not math.isnan(v)]
    if not scored:
        return None
    return max(scored) if mode == "max" else min(scored)


def best_trial(trials: Sequence[T], mode: Mode, *, engine: str, error: str | None = None) -> T:
    """The completed trial with the best metric (the first of equals); TuningError when none completed.

    `error` is the first failed trial's error line, if any, for the message."""
    completed = [t for t in trials if t.status == "completed"]
    if not completed:
        raise no_trial_completed(engine, error)
    return (max if mode == "max" else min)(completed, key=lambda t: t.metric)


def no_trial_completed(engine: str, error: str | None = None) -> TuningError:
    """The one error for a study in which every trial was pruned or failed."""
    if error:
        return TuningError(f"{engine}: no tuning trial completed ({error})")
    return TuningError(
        f"{engine}: no tuning trial completed (all pruned); lower tune.grace_period or set tune.scheduler: none"
    )


def state_home() -> Path:
    """mlscale's state directory: $MLSCALE_HOME, else ~/.mlscale, read at every call (never cached)."""
    return state.home()
