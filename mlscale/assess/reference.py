"""A reference check in every run: scikit-learn's HistGradientBoosting with its defaults, on the same split.

A one-line baseline a data scientist would try first. When mlscale's model scores clearly worse on the
test split, the run says so (a summary line and a tag) instead of handing over a worse model silently.
It runs on the driver on a row sample (`evaluate.reference_max_rows`), whatever the engine.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlscale.data import Dataset
from mlscale.modeling.metrics import PRIMARY, compute

# Worse than the reference by more than this: one point of AUC / accuracy, 2 % of RMSE.
TOLERANCE = {"auc": 0.01, "accuracy": 0.01, "rmse": 0.02}
HGB_MAX_CATEGORIES = 255  # HistGradientBoosting's native categorical support stops at max_bins


@dataclass(frozen=True)
class ReferenceResult:
    model: str  # the estimator's class name
    split: str  # test, or valid when the recipe has no test split
    metrics: dict[str, float]  # unprefixed, as `mlscale.modeling.metrics.compute` names them
    rows: int  # train rows the reference saw
    seconds: float
    scored: int = 0  # rows of the split both models are scored on
    minority: int = 0  # binary: rows of the rarer class in that split (AUC's sampling error)

    def logged(self) -> dict[str, float]:
        return {f"reference_{self.split}_{k}": v for k, v in self.metrics.items()}


def fit_reference(data: Dataset, *, max_rows: int, seed: int = 0) -> ReferenceResult:
    """Fit HistGradientBoosting (defaults, categoricals from their dtype) on up to `max_rows` train rows."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    started = time.perf_counter()
    task = data.schema.task
    x, y = data.x_train, data.y_train
    if len(x) > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(len(x), size=max_rows, replace=False))
        x, y = x.iloc[rows], y[rows]
    estimator: Any = (
        HistGradientBoostingRegressor(categorical_features="from_dtype", random_state=seed)
        if task == "regression"
        else HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=seed)
    )
    estimator.fit(_hgb_frame(x), y)
    split, x_eval, y_eval = (
        ("test", data.x_test, data.y_test) if len(data.y_test) else ("valid", data.x_valid, data.y_valid)
    )
    features = _hgb_frame(x_eval)
    if task == "regression":
        raw = estimator.predict(features)
    elif task == "binary":
        raw = estimator.predict_proba(features)[:, 1]
    else:
        raw = _all_classes(estimator, features, data.num_class)
    return ReferenceResult(
        model=type(estimator).__name__,
        split=split,
        metrics=compute(task, y_eval, raw),
        rows=len(x),
        seconds=time.perf_counter() - started,
        scored=len(y_eval),
        minority=int(min(np.sum(y_eval == 0), np.sum(y_eval == 1))) if task == "binary" else 0,
    )


def shortfall(task: str, metrics: dict[str, float], reference: ReferenceResult) -> str | None:
    """One warning line when the run's model is worse than the reference beyond the tolerance, else None."""
    name = PRIMARY[task]
    ours = metrics.get(f"{reference.split}_{name}")
    theirs = reference.metrics.get(name)
    if ours is None or theirs is None or np.isnan(ours) or np.isnan(theirs):
        return None
    margin = max(TOLERANCE[name], 2 * sampling_error(name, reference))
    if name == "rmse":
        worse = ours > theirs * (1 + margin)
        gap = f"{(ours / theirs - 1) * 100:.1f} % higher"
    else:
        worse = ours < theirs - margin
        gap = f"{(theirs - ours) * 100:.1f} points lower"
    if not worse:
        return None
    return (
        f"{reference.split}_{name} {ours:.4f} is {gap} than a default {reference.model} on the same split "
        f"({theirs:.4f}); check data.categorical_encoding, data.exclude and train settings"
    )


def sampling_error(metric: str, reference: ReferenceResult) -> float:
    """A bound on one score's standard error from the size of the split it is computed on, so a small
    test split does not raise the warning on noise (36 rows: one row is 2.8 points of accuracy).
    Accuracy: the binomial bound sqrt(1/4n); AUC: the same over the rarer class; RMSE, relative:
    sqrt(1/2n)."""
    n = reference.minority if metric == "auc" else reference.scored
    if n <= 0:
        return math.inf
    return math.sqrt(1 / (2 * n)) if metric == "rmse" else math.sqrt(0.25 / n)


def _hgb_frame(x: pd.DataFrame) -> pd.DataFrame:
    """HistGradientBoosting takes pandas categoricals up to 255 levels; larger ones go in as their codes."""
    out = {}
    for col in x.columns:
        values = x[col]
        if isinstance(values.dtype, pd.CategoricalDtype) and len(values.cat.categories) > HGB_MAX_CATEGORIES:
            codes = values.cat.codes.to_numpy().astype(np.float32)
            codes[codes < 0] = np.nan
            out[col] = codes
        else:
            out[col] = values
    return pd.DataFrame(out, index=x.index)


def _all_classes(estimator: Any, x: pd.DataFrame, num_class: int) -> np.ndarray:
    """Probabilities for every class 0..K-1, also those absent from the reference's sample."""
    proba = estimator.predict_proba(x)
    full = np.zeros((len(x), num_class))
    full[:, estimator.classes_.astype(int)] = proba
    return full
