"""Gated promotion (`mlflow.promote`): a run's registered model version takes the champion alias only if it
beats the version holding it, both scored on this run's test split with the run's own metric code.

`decide` is the rule, pure and typed; `rescore` scores a champion on this run's data; `promote` reads and
moves the aliases through `mlscale.tracking.registry` and logs the decision as tags on the run and the version.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mlscale.data import Dataset
from mlscale.errors import MlscaleError, RecipeError
from mlscale.modeling.metrics import compute
from mlscale.modeling.model import Model
from mlscale.recipe.schema import TASK_METRICS, PromoteConfig
from mlscale.tracking import models as tracking_models
from mlscale.tracking import registry
from mlscale.tracking import runs as tracking
from mlscale.tracking.client import short_error
from mlscale.tuning import objective as rules

SPLIT = "this run's test split"
EPS = 1e-12  # float noise: 0.92 - 0.90 is 0.020000000000000018, which is no gain over min_delta 0.02


@dataclass(frozen=True, kw_only=True)
class Challenge:
    """What the rule sees: this run's value and the champion's, both measured on this run's test split."""

    metric: str
    mode: rules.Mode
    min_delta: float
    value: float
    alias: str = "champion"
    champion_version: str | None = None  # None: no version holds the alias
    champion_value: float | None = None  # None: it could not be re-scored (champion_problem says why)
    champion_problem: str | None = None


@dataclass(frozen=True, kw_only=True)
class Decision:
    promoted: bool
    reason: str


def decide(c: Challenge) -> Decision:
    """Promote only on a gain larger than min_delta in the metric's direction; a tie keeps the champion.
    No champion: promote. A champion that cannot be re-scored, or a run whose value is NaN: keep it."""
    if c.champion_version is None:
        return Decision(promoted=True, reason=f"no version held @{c.alias}")
    held = f"@{c.alias} version {c.champion_version}"
    if math.isnan(c.value):
        return Decision(promoted=False, reason=f"this run's {c.metric} is not a number; {held} stays")
    if c.champion_value is None:
        why = c.champion_problem or "unknown reason"
        return Decision(
            promoted=False, reason=f"{held} could not be re-scored on {SPLIT} ({why}); it stays @{c.alias}"
        )
    both = f"{c.metric} {c.value:.5f} (this run) vs {c.champion_value:.5f} ({held}, re-scored on {SPLIT})"
    if math.isnan(c.champion_value):
        return Decision(promoted=True, reason=f"{both}: the champion's value is not a number")
    gain = c.value - c.champion_value if c.mode == "max" else c.champion_value - c.value
    direction = "higher" if c.mode == "max" else "lower"
    if gain - c.min_delta > EPS:
        return Decision(
            promoted=True,
            reason=f"{both}: better by {gain:.5f} > min_delta {c.min_delta:g} ({direction} is better)",
        )
    return Decision(
        promoted=False,
        reason=f"{both}: not better by more than min_delta {c.min_delta:g} ({direction} is better)",
    )


@dataclass(frozen=True, kw_only=True)
class Rescored:
    value: float | None = None
    problem: str | None = None  # set when value is None


def rescore(champion: Model, data: Dataset, metric: str) -> Rescored:
    """The champion's `metric` on this run's raw test rows, through the champion's own feature schema and
    the metric code every run uses; a champion that does not fit this data gets a problem, not an error."""
    own, theirs = data.schema, champion.schema
    if theirs.task != own.task:
        return Rescored(problem=f"it is a {theirs.task} model, this run is {own.task}")
    if own.task != "regression" and [str(c) for c in theirs.classes or []] != [
        str(c) for c in own.classes or []
    ]:
        return Rescored(problem=f"its classes {theirs.classes} are not this run's {own.classes}")
    missing = [c for c in theirs.features if c not in data.test_frame.columns]
    if missing:
        shown = ", ".join(map(repr, missing[:5])) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        return Rescored(problem=f"its feature column(s) {shown} are not in this run's data")
    try:
        x, _ = theirs.frame(data.test_frame, where="champion")
        values = compute(own.task, data.y_test, champion.raw_predict(x))
    except Exception as exc:  # xgboost refusing the frame, a broken booster: the run's model still counts
        return Rescored(problem=f"{type(exc).__name__}: {short_error(exc)}")
    return Rescored(value=values[metric.removeprefix("test_")])


@dataclass(frozen=True, kw_only=True)
class Promotion:
    """What a run's promotion did: `name` version `version` now holds `alias`, for `decision.reason`."""

    name: str
    version: str
    alias: str
    challenge: Challenge
    decision: Decision

    @property
    def role(self) -> str:
        return "champion" if self.decision.promoted else "challenger"

    @property
    def summary(self) -> str:
        return f"models:/{self.name}@{self.alias} is version {self.version}: {self.decision.reason}"

    def tags(self) -> dict[str, str]:
        c = self.challenge
        tags = {
            "mlscale.promotion": self.role,
            "mlscale.promotion.alias": self.alias,
            "mlscale.promotion.reason": self.decision.reason,
            "mlscale.promotion.metric": c.metric,
            "mlscale.promotion.value": repr(c.value),
            "mlscale.promotion.min_delta": repr(c.min_delta),
        }
        if c.champion_version is not None:
            tags["mlscale.promotion.champion_version"] = c.champion_version
        if c.champion_value is not None:
            tags["mlscale.promotion.champion_value"] = repr(c.champion_value)
        return tags


def check(promote: PromoteConfig | None, data: Dataset, source: str) -> None:
    """Pre-flight, once the data is loaded (the task may have been inferred): the metric is one this run
    logs, and there is a test split to compare on."""
    if promote is None:
        return
    task = data.schema.task
    metric, _ = rules.promote_objective(promote, task)
    if metric.removeprefix("test_") not in TASK_METRICS[task]:
        names = ", ".join("test_" + m for m in TASK_METRICS[task])
        raise RecipeError(
            f"{source}: mlflow.promote.metric {metric!r} is not logged for task {task} (one of {names})"
        )
    if len(data.y_test) == 0:
        raise RecipeError(f"{source}: mlflow.promote compares models on the test split, which has no rows")


def promote(
    tracker: tracking.RunTracker, config: PromoteConfig, name: str, data: Dataset, metrics: dict[str, float]
) -> Promotion:
    """Decide for the version this run registered, move the alias, and tag the run and the version."""
    if tracker.model_version is None:
        raise MlscaleError("promote: the run's model was not registered")
    version = tracker.model_version
    metric, mode = rules.promote_objective(config, data.schema.task)
    held = registry.aliased_version(tracker.uri, name, config.alias)
    rescored = Rescored()
    if held is not None:
        try:
            champion = tracking_models.load_model(
                f"models:/{name}/{held}", tracking_uri=tracker.uri, where=f"@{config.alias}"
            )
        except Exception as exc:  # not an mlscale model, or gone: this version cannot be compared to it
            rescored = Rescored(problem=short_error(exc))
        else:
            rescored = rescore(champion, data, metric)
    challenge = Challenge(
        metric=metric,
        mode=mode,
        min_delta=config.min_delta,
        value=metrics.get(metric, math.nan),
        alias=config.alias,
        champion_version=held,
        champion_value=rescored.value,
        champion_problem=rescored.problem,
    )
    decision = decide(challenge)
    alias = config.alias if decision.promoted else config.challenger_alias
    registry.set_alias(tracker.uri, name, alias, version)
    result = Promotion(name=name, version=version, alias=alias, challenge=challenge, decision=decision)
    tracker.set_tags(result.tags())
    registry.tag_version(tracker.uri, name, version, result.tags())
    return result
