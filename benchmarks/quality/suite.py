"""The quality suite: real tables, mlscale's default model on each engine, and two baselines a user would try.

Shared by `benchmarks/quality_bench.py` (every table, timings) and `tests/integration/test_quality.py`
(the smaller tables, thresholds asserted). Everything is scored on mlscale's own test split; the
baselines train on its train + valid rows (they have no use for a separate early-stopping split):
- `hgb`: scikit-learn's HistGradientBoosting{Classifier,Regressor}() defaults, categoricals from their
  dtype (up to 255 levels; larger ones as integer codes, which it needs);
- `xgb`: xgboost's XGB{Classifier,Regressor}() defaults, every text column as integer codes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
CASES = {  # recipe -> table it reads
    "flights_late": "flights",
    "flights_delay": "flights",
    "fertility": "fertility",
    "diamonds_price": "diamonds",
    "diamonds_cut": "diamonds",
    "loans_rate": "loans",
    "movielens_rating": "movielens",
    "mpls_stops": "mpls",
    "tweets_source": "tweets",
    "fine_foods_score": "fine_foods",
    "hotels_price": "hotels",
    "seattle_weather": "seattle_weather",
}
DATES_AND_TEXT = ("tweets_source", "fine_foods_score", "hotels_price", "seattle_weather")
SMALL = ("diamonds_price", "diamonds_cut", "loans_rate", "movielens_rating")  # run in the test suite
# The bar: mlscale's default within this of the better baseline (points of AUC / accuracy, RMSE ratio).
TOLERANCE = {"auc": 0.005, "accuracy": 0.005, "rmse": 0.02}


@dataclass(frozen=True)
class Score:
    metric: str  # auc | accuracy | rmse
    value: float
    seconds: float


def recipe_path(case: str) -> Path:
    return HERE / f"{case}.yaml"


def primary(task: str) -> str:
    return {"binary": "auc", "multiclass": "accuracy", "regression": "rmse"}[task]


def acceptable(ours: float, best: float, metric: str) -> bool:
    """mlscale's score against the better baseline, within the suite's tolerance."""
    if metric == "rmse":
        return ours <= best * (1 + TOLERANCE[metric])
    return ours >= best - TOLERANCE[metric]


def better(a: float, b: float, metric: str) -> float:
    return min(a, b) if metric == "rmse" else max(a, b)


def baselines(data: Any, raw: pd.DataFrame) -> dict[str, Score]:
    """Both baselines on a prepared mlscale Dataset; `raw` is the table it came from, as read."""
    task = data.schema.task
    features = data.schema.features
    train_rows = np.concatenate([_rows(data, "train"), _rows(data, "valid")])
    test_rows = _rows(data, "test")
    y_train = np.concatenate([data.y_train, data.y_valid])
    return {
        "hgb": _fit("hgb", task, _hgb_frame(raw[features]), train_rows, test_rows, y_train, data.y_test),
        "xgb": _fit("xgb", task, _codes_frame(raw[features]), train_rows, test_rows, y_train, data.y_test),
    }


def _rows(data: Any, split: str) -> np.ndarray:
    return np.asarray(data.split_rows[split])


def _fit(kind: str, task: str, x: pd.DataFrame, tr: np.ndarray, te: np.ndarray, y: Any, y_test: Any) -> Score:
    from sklearn import metrics

    model = _estimator(kind, task)
    started = time.perf_counter()
    model.fit(x.iloc[tr], y)
    seconds = time.perf_counter() - started
    x_test = x.iloc[te]
    if task == "binary":
        value = metrics.roc_auc_score(y_test, model.predict_proba(x_test)[:, 1])
    elif task == "multiclass":
        value = metrics.accuracy_score(y_test, model.predict(x_test))
    else:
        value = float(np.sqrt(metrics.mean_squared_error(y_test, model.predict(x_test))))
    return Score(primary(task), float(value), seconds)


def _estimator(kind: str, task: str) -> Any:
    if kind == "hgb":
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        seeded = {"random_state": 0}  # its early-stopping split is random otherwise: +-0.3 points seen
        if task == "regression":
            return HistGradientBoostingRegressor(**seeded)
        return HistGradientBoostingClassifier(**seeded)
    import xgboost as xgb

    return xgb.XGBRegressor() if task == "regression" else xgb.XGBClassifier()


def _is_text(s: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s))


def _hgb_frame(x: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for col in x.columns:
        s = x[col]
        if _is_text(s):
            cat = s.astype("category")
            out[col] = cat if len(cat.cat.categories) <= 255 else _codes(cat)
        else:
            out[col] = s
    return pd.DataFrame(out)


def _codes_frame(x: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({c: _codes(x[c].astype("category")) if _is_text(x[c]) else x[c] for c in x.columns})


def _codes(cat: pd.Series) -> np.ndarray:
    codes = cat.cat.codes.to_numpy().astype(np.float32)
    codes[codes < 0] = np.nan
    return codes
