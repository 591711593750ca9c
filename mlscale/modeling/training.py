"""The xgboost core both engines share: parameters, DMatrix building, one fit, evaluation.

Keeping one fit function is what makes `local` and `ray` agree on metrics for the same seed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from mlscale.data import Dataset, FeatureSchema
from mlscale.modeling.metrics import compute, prefixed
from mlscale.modeling.model import Model
from mlscale.recipe.schema import XGB_INT_PARAMS, TrainConfig
from mlscale.recipe.task_metrics import DEFAULT_EVAL_METRIC

INT_PARAMS = {"max_depth", "max_bin", "seed"} | XGB_INT_PARAMS  # tune samples 3.0 for these: cast
NAMED_PARAMS = (
    "eta",
    "max_depth",
    "min_child_weight",
    "subsample",
    "colsample_bytree",
    "reg_lambda",
    "reg_alpha",
    "gamma",
    "max_bin",
)
# Evaluating the train split every round doubles the per-round evaluation work; above this size
# learning curves show the valid split only (see docs/performance.md).
TRAIN_CURVE_MAX_ROWS = 250_000


def xgb_params(
    train: TrainConfig,
    schema: FeatureSchema,
    *,
    nthread: int | None = None,
    overrides: dict[str, Any] | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """The full xgboost parameter dict for a recipe's train section (plus tuned overrides)."""
    objective = {
        "binary": "binary:logistic",
        "multiclass": "multi:softprob",
        "regression": "reg:squarederror",
    }
    params: dict[str, Any] = {
        "objective": objective[schema.task],
        "tree_method": "hist",
        "seed": train.seed,
        "eval_metric": list(train.eval_metric or DEFAULT_EVAL_METRIC[schema.task]),
    }
    params.update({name: getattr(train, name) for name in NAMED_PARAMS})
    if schema.task == "multiclass":
        params["num_class"] = len(schema.classes or [])
    if schema.categories:
        params["max_cat_to_onehot"] = params.get("max_cat_to_onehot", 1)
    params.update(train.params)
    params.update(overrides or {})
    for key in INT_PARAMS & params.keys():
        params[key] = int(params[key])
    if nthread:
        params["nthread"] = int(nthread)
    if device:
        params["device"] = device
    return params


def params_problem(train: TrainConfig, data: Dataset) -> str | None:
    """Why xgboost would refuse a train section (an unknown metric or objective, a value out of range),
    or None: one boosting round on a few rows, before any run starts."""
    import warnings

    import numpy as np
    import xgboost as xgb

    rows = np.arange(min(len(data.x_train), 32))
    if data.schema.task != "regression":  # every class, so per-class metrics have what they need
        rows = np.union1d(rows, np.unique(data.y_train, return_index=True)[1])
    probe = xgb.DMatrix(data.x_train.iloc[rows], label=data.y_train[rows], enable_categorical=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. unused parameters: training says so itself
        try:
            params = xgb_params(train, data.schema, nthread=1)
            xgb.train(params, probe, 1, evals=[(probe, "valid")], verbose_eval=False)
        except xgb.core.XGBoostError as exc:
            return xgboost_reason(exc)
    return None


def xgboost_reason(exc: BaseException) -> str:
    """The first line of an xgboost error, without its '[12:00:00] /path/file.cc:49: ' prefix."""
    lines = str(exc).strip().splitlines()
    return re.sub(r"^\[[\d:]+\] \S+:\d+: ", "", lines[0]) if lines else type(exc).__name__


def cuda_problem() -> str | None:
    """Why xgboost cannot train on a GPU here, or None: asked once, before any work starts."""
    import numpy as np
    import xgboost as xgb

    if not xgb.build_info().get("USE_CUDA"):
        return f"this xgboost {xgb.__version__} build has no CUDA support (install a CUDA build)"
    import warnings

    probe = xgb.DMatrix(np.zeros((2, 1), dtype=np.float32), label=np.array([0.0, 1.0]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            xgb.train({"device": "cuda", "tree_method": "hist"}, probe, num_boost_round=1)
        except xgb.core.XGBoostError as exc:
            return f"no usable GPU ({str(exc).strip().splitlines()[-1][:200]})"
    # Without a GPU xgboost warns and quietly trains on the CPU: a GPU recipe must not do that unnoticed.
    if any("GPU" in str(w.message) for w in caught):
        return "xgboost sees no GPU on this machine (it would fall back to the CPU)"
    return None


def dmatrices(data: Dataset, *, nthread: int | None = None, max_bin: int = 256) -> tuple[Any, Any]:
    """(train, valid) as QuantileDMatrix: built once, reused by every boosting round and tune trial."""
    return quantile_pair(
        data.x_train, data.y_train, data.x_valid, data.y_valid, nthread=nthread, max_bin=max_bin
    )


def quantile_pair(
    x: Any, y: Any, x_valid: Any, y_valid: Any, *, nthread: int | None = None, max_bin: int = 256
) -> tuple[Any, Any]:
    """(train, valid) QuantileDMatrix for any shard; the valid one shares the train one's bins."""
    import xgboost as xgb

    dtrain = xgb.QuantileDMatrix(x, label=y, enable_categorical=True, nthread=nthread or 0, max_bin=max_bin)
    dvalid = xgb.QuantileDMatrix(
        x_valid, label=y_valid, enable_categorical=True, nthread=nthread or 0, ref=dtrain
    )
    return dtrain, dvalid


def fit(
    params: dict[str, Any],
    dtrain: Any,
    dvalid: Any,
    *,
    num_boost_round: int,
    early_stopping_rounds: int | None,
    callbacks: Sequence[Any] = (),
    with_train_curve: bool = True,
    xgb_model: Any = None,
) -> tuple[Any, dict[str, dict[str, list[float]]], int]:
    """One xgboost training; returns (booster cut at its best round, per-round history, rounds run)."""
    import xgboost as xgb

    history: dict[str, dict[str, list[float]]] = {}
    evals = [(dtrain, "train"), (dvalid, "valid")] if with_train_curve else [(dvalid, "valid")]
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=num_boost_round,
        evals=evals,
        evals_result=history,
        early_stopping_rounds=early_stopping_rounds,
        verbose_eval=False,
        callbacks=list(callbacks),
        xgb_model=xgb_model,
    )
    rounds = booster.num_boosted_rounds()
    return cut_at_best(booster, early_stopping_rounds), history, rounds


def cut_at_best(booster: Any, early_stopping_rounds: int | None) -> Any:
    """The booster up to its best round when early stopping ran (xgboost keeps the rounds after it)."""
    best = getattr(booster, "best_iteration", None) if early_stopping_rounds else None
    if best is not None and best + 1 < booster.num_boosted_rounds():
        return booster[: best + 1]
    return booster


def fit_trial(
    params: dict[str, Any], dtrain: Any, dvalid: Any, train: TrainConfig, callbacks: Sequence[Any]
) -> tuple[Any, dict[str, dict[str, list[float]]], int]:
    """A tuning trial's fit (every engine): the recipe's rounds and early stopping, no train curve."""
    return fit(
        params,
        dtrain,
        dvalid,
        num_boost_round=train.num_boost_round,
        early_stopping_rounds=train.early_stopping_rounds,
        callbacks=callbacks,
        with_train_curve=False,
    )


def round_callback(report: Callable[[int, dict[str, float]], None], *, offset: int = 0) -> Any:
    """An xgboost callback handing (rounds done, latest valid metrics) to `report` after each round."""
    import xgboost as xgb

    class RoundReport(xgb.callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            latest = {name: float(v[-1]) for name, v in evals_log.get("valid", {}).items() if len(v)}
            report(offset + epoch + 1, latest)
            return False

    return RoundReport()


def evaluate(model: Model, data: Dataset) -> dict[str, float]:
    """valid_* and test_* metrics for a model, computed the same way for every engine."""
    task = model.schema.task
    out = prefixed("valid", compute(task, data.y_valid, model.raw_predict(data.x_valid)))
    if len(data.y_test):
        out.update(prefixed("test", compute(task, data.y_test, model.raw_predict(data.x_test))))
    return out


def quantize(value: float, q: float) -> float:
    out = round(value / q) * q
    return float(int(out)) if float(q).is_integer() else out


def round_metric(history: dict[str, dict[str, list[float]]], metric: str) -> list[float] | None:
    """The per-round values of 'valid_<m>' from an xgboost history, if xgboost computed it."""
    base = metric.removeprefix("valid_")
    values = history.get("valid", {}).get(base)
    return list(values) if values else None
