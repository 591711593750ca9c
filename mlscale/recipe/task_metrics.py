"""Which metrics fit which task: xgboost's eval metrics per objective, and the metrics a run logs.

Names only, no xgboost: the recipe's validation (a `task:` given) and the run's pre-flight (the task
inferred from the target, before training) ask the same `metrics_problem`. xgboost itself computes a
classification metric on a regression target without a word (a logloss of -21,518), and early stopping
then follows it.
"""

from __future__ import annotations

from typing import Any

# The metrics a run logs for each split (mlscale.modeling.metrics.compute returns exactly these names)
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("logloss", "accuracy", "f1", "auc"),
    "multiclass": ("mlogloss", "accuracy", "f1_macro"),
    "regression": ("rmse", "mae", "r2"),
}
# xgboost early-stops on the last metric of the list: keep the proper scoring rule last.
DEFAULT_EVAL_METRIC = {
    "binary": ["auc", "logloss"],
    "multiclass": ["merror", "mlogloss"],
    "regression": ["mae", "rmse"],
}
# xgboost's eval metrics (its "Learning Task Parameters") by the task they measure. A name may carry a
# parameter after '@' (error@0.7, tweedie-nloglik@1.5) or end in '-' (ndcg-).
XGB_EVAL_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("logloss", "error", "auc", "aucpr"),
    "multiclass": ("mlogloss", "merror", "auc", "aucpr"),
    "regression": (
        "rmse",
        "rmsle",
        "mae",
        "mape",
        "mphe",
        "quantile",
        "poisson-nloglik",
        "gamma-nloglik",
        "gamma-deviance",
        "tweedie-nloglik",
    ),
}
# Known to xgboost, for none of mlscale's tasks: ranking and survival.
_XGB_OTHER_METRICS = ("pre", "ndcg", "map", "cox-nloglik", "aft-nloglik", "interval-regression-accuracy")
_XGB_KNOWN = {m for names in XGB_EVAL_METRICS.values() for m in names} | set(_XGB_OTHER_METRICS)


def fitting_eval_metrics(task: str, objective: Any = None) -> tuple[str, ...]:
    """xgboost's eval metrics that measure `task`; reg:logistic regresses a target in [0, 1] as a
    probability, which the binary ones measure too."""
    names = XGB_EVAL_METRICS[task]
    if task == "regression" and objective == "reg:logistic":
        names += XGB_EVAL_METRICS["binary"]
    return names


def metrics_problem(
    task: str,
    eval_metric: list[str] | None,
    *,
    objective: Any = None,
    tune_metric: str | None = None,
    task_note: str = "",
) -> str | None:
    """Why train.eval_metric or tune.metric does not fit `task` (None: they fit). An eval metric xgboost
    does not know is left to xgboost, which names it. `task_note`: how the task was found, for the message."""
    fit = fitting_eval_metrics(task, objective)
    for name in eval_metric or []:
        base = name.split("@", 1)[0].rstrip("-")
        if base in _XGB_KNOWN and base not in fit:
            return (
                f"train.eval_metric {name!r} does not fit task {task}{task_note} (xgboost's {task} metrics: "
                f"{', '.join(fit)})"
            )
    if tune_metric is not None:
        measured = dict.fromkeys(TASK_METRICS[task] + tuple(eval_metric or DEFAULT_EVAL_METRIC[task]))
        if tune_metric.removeprefix("valid_") not in measured:
            return (
                f"tune.metric {tune_metric!r} is not measured for task {task}{task_note} (one of "
                f"{', '.join('valid_' + m for m in measured)}; or add it to train.eval_metric)"
            )
    return None
