"""The `target` encoding: a categorical level as the smoothed mean of the target over the train rows holding it.

- Train rows get out-of-fold values (cross fitting, as scikit-learn's `TargetEncoder.fit_transform`): the
  train rows are cut into `FOLDS` seeded random folds (`train.seed`) and each row's value comes from the
  other folds' rows only, so no train row sees its own target.
- Valid, test and predict rows get the statistics of all train rows, stored with the model
  (`FeatureSchema.target_stats`, JSON: one value per level, then the prior); they never see their targets.
- Smoothing: empirical Bayes toward the prior (the train mean), value = λ·mean + (1 - λ)·prior with
  λ = n / (n + σ²_within / σ²_between), the within-level variance pooled over all levels (a level seen
  once is shrunk as much as its count says, not taken as is).
- binary: the rate of the second class; regression: the mean. Multiclass would need one column per class
  and is refused. A missing value stays missing (xgboost learns its direction); an unseen level gets the
  prior.
- The out-of-fold values exist only where all train rows are in memory: `train.external_memory` refuses
  `target`, and engines whose workers would read the train rows from the files themselves receive the
  driver's rows instead (`Dataset.files.train_rows` left empty).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlscale.data.categories import codes as category_codes
from mlscale.errors import DataError
from mlscale.recipe.schema import Recipe

FOLDS = 5
TARGET = "target"


@dataclass(frozen=True)
class FittedColumn:
    """One column's target statistics: `stored` (per level, then the prior; kept with the model) and the
    out-of-fold values of the train rows (what the model trains on)."""

    stored: list[float]
    train_values: np.ndarray


def smoothed(codes: np.ndarray, y: np.ndarray, n_levels: int) -> np.ndarray:
    """Per level the smoothed target mean over the rows of `codes` (-1: missing, not counted), then the
    prior: `n_levels + 1` values, so that `result[codes]` gives missing and unseen codes (-1) the prior."""
    y = np.asarray(y, dtype=np.float64)
    prior = float(y.mean()) if len(y) else 0.0
    seen = codes >= 0
    c, t = codes[seen], y[seen]
    n = np.bincount(c, minlength=n_levels).astype(np.float64)
    sums = np.bincount(c, weights=t, minlength=n_levels)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / n
        deviations = t - means[c]
        within = float(np.dot(deviations, deviations)) / max(len(t) - int(np.count_nonzero(n)), 1)
        between = float(y.var()) - within if len(y) else 0.0
        weight = n / (n + within / between) if between > 0 else np.zeros(n_levels)
    values = np.where(n > 0, weight * np.nan_to_num(means) + (1 - weight) * prior, prior)
    return np.append(values, prior)


def fit_column(codes: np.ndarray, y: np.ndarray, n_levels: int, seed: int) -> FittedColumn:
    """Full-train statistics and the out-of-fold values of the train rows (`codes`, `y`: the train rows)."""
    folds = np.random.default_rng(seed).permutation(len(codes)) % FOLDS
    train_values = np.empty(len(codes), dtype=np.float32)
    for k in range(FOLDS):
        held = folds == k
        train_values[held] = smoothed(codes[~held], y[~held], n_levels)[codes[held]]
    train_values[codes < 0] = np.nan
    return FittedColumn(stored=smoothed(codes, y, n_levels).round(8).tolist(), train_values=train_values)


def encode(codes: np.ndarray, missing: np.ndarray, stored: list[float]) -> np.ndarray:
    """Model input of a `target`-encoded column from the stored statistics: unseen levels (code -1, not
    missing) get the prior, missing values stay missing."""
    values = np.asarray(stored, dtype=np.float32)[codes]
    values[missing] = np.nan
    return values


def fit_columns(
    train: pd.DataFrame,
    categories: dict[str, list[Any]],
    encodings: dict[str, str],
    y_train: np.ndarray,
    task: str,
    recipe: Recipe,
    where: str,
) -> dict[str, FittedColumn]:
    """The statistics of each `target`-encoded column over the train rows, seeded by train.seed."""
    fitted: dict[str, FittedColumn] = {}
    for col in (c for c, e in encodings.items() if e == TARGET):
        if task == "multiclass":
            raise DataError(
                f"{where}.{_field(col, recipe)}: encoding target needs a binary or regression target; "
                "use ordinal or frequency for a multiclass one"
            )
        index = {c: i for i, c in enumerate(categories[col])}
        fitted[col] = fit_column(category_codes(train[col], index), y_train, len(index), recipe.train.seed)
    return fitted


def with_out_of_fold(x_train: pd.DataFrame, fitted: dict[str, FittedColumn]) -> pd.DataFrame:
    """The train rows with each `target`-encoded column's out-of-fold values (never their own targets)."""
    for col, f in fitted.items():
        x_train[col] = f.train_values
    return x_train


def refuse_streamed(encodings: dict[str, str], recipe: Recipe, where: str) -> None:
    """train.external_memory reads the train rows batch by batch: no out-of-fold statistics there."""
    col = next((c for c, e in encodings.items() if e == TARGET), None)
    if col is not None:
        raise DataError(
            f"{where}.{_field(col, recipe)}: encoding target needs every train row in memory (out-of-fold "
            "statistics), and train.external_memory reads them in batches; use ordinal or frequency"
        )


def _field(col: str, recipe: Recipe) -> str:
    """The recipe field that gave `col` its encoding."""
    return f"column_encoding.{col}" if col in recipe.data.column_encoding else "categorical_encoding"
