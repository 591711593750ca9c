"""Categorical columns: one canonical text per value, and how each column is encoded for xgboost.

The text of a category must not depend on the dtype pandas happened to infer: a column of integers
with one missing value is read as float (`1.0`), the same column without it as int (`1`), and a
predict batch may hold either. `canonical` writes both as `"1"`, at training and at prediction.

Encodings (chosen per column, stored with the model, applied by `FeatureSchema.frame` everywhere):
- `native`: a pandas categorical; xgboost's partition-based categorical splits.
- `ordinal`: the level's position in the model's category list, as a number (missing/unseen: NaN).
- `frequency`: the level's share of the train rows, as a number (missing/unseen: NaN).
- `target`: the level's smoothed target mean, out of fold on the train rows (`mlscale.data.target_stats`;
  binary and regression).

`auto` keeps `native` up to `AUTO_NATIVE_MAX_LEVELS` levels and uses `ordinal` above: xgboost's
partition splits over many levels overfit (measured in benchmarks/quality_bench.py, see docs/quality.md).
It uses `target` instead of `ordinal` where that won on the quality suite: a regression target, more than
`AUTO_TARGET_MIN_LEVELS` levels, and fewer than `AUTO_TARGET_MAX_ROWS_PER_LEVEL` train rows per level
(rows held in memory: never with train.external_memory). Test metric, native up to 32 levels, ordinal above
vs `target` above 1000 levels (`benchmarks/quality/encoding_sweep.py --variants "native <= 32 levels,target
above 1000"`, engine local, mlscale's split):
- loans_rate (emp_title 4,741 levels, ~1.5 train rows per level): RMSE 3.639 -> 3.594 (target, 1.2 % better)
- movielens_rating (title 8,832 levels, ~8 rows per level): RMSE 0.8741 -> 0.8635 (target, 1.2 % better)
- flights_delay (tailnum 4,043 levels, ~57 rows per level): RMSE 38.90 -> 38.93 (ordinal kept)
- flights_late (binary, the same tailnum): AUC 0.8093 -> 0.8068 (ordinal kept; no binary table won)
With `target` already above 32 levels: loans 3.645, movielens 0.8719, flights_delay 38.58, flights_late
0.8027, mpls_stops 0.8991 (0.8990): mixed, so the level threshold stays at 1000.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

Encoding = Literal["native", "ordinal", "frequency", "target"]
ENCODINGS: tuple[str, ...] = ("native", "ordinal", "frequency", "target")
AUTO_NATIVE_MAX_LEVELS = 32
# `auto`: `target` above this many levels with fewer train rows per level (measured: won at 1.5 and 8, not 57)
AUTO_TARGET_MIN_LEVELS = 1000
AUTO_TARGET_MAX_ROWS_PER_LEVEL = 20


def canonical(value: Any) -> str | None:
    """The one text form of a category value; None for a missing value.

    Integral floats are written as integers (1.0 -> "1"), other floats in their shortest round-trip
    form, bools as "True"/"False", text as is, anything else as `str()`.
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if math.isnan(f):
            return None
        if math.isfinite(f) and f.is_integer():
            return str(int(f))
        return str(value)  # numpy scalars print their own shortest form (float32 0.1 -> "0.1")
    return str(value)


def levels(values: pd.Series) -> list[str]:
    """The distinct canonical values of a column: in the dtype's order for an ordered categorical,
    sorted otherwise."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype) and dtype.ordered:
        ordered = (canonical(c) for c in dtype.categories)
        return list(dict.fromkeys(c for c in ordered if c is not None))
    _, uniques = pd.factorize(values, use_na_sentinel=True)
    return sorted({c for c in (canonical(u) for u in uniques) if c is not None})


def codes(values: pd.Series, index: Mapping[str, int]) -> np.ndarray:
    """Each value's position in a category list (`index`: level -> position); -1 for missing or unseen.

    Hashes the column once and looks up each distinct value once, so it costs O(rows + levels)."""
    raw, uniques = pd.factorize(values, use_na_sentinel=True)
    lookup = np.fromiter((_position(u, index) for u in uniques), dtype=np.int64, count=len(uniques))
    return np.append(lookup, -1)[raw]  # factorize marks missing as -1: the appended -1


def _position(value: Any, index: Mapping[str, int]) -> int:
    """The position of one value's level; -1 for missing or unseen. Text that is not a level but a number
    is looked up as that number: a predict file is read as text ("007", "2.0") where training read numbers
    (7, 2.0: levels "7" and "2")."""
    text = canonical(value)
    if text is None:
        return -1
    found = index.get(text)
    if found is None and isinstance(value, str) and (number := _number_text(value)) is not None:
        found = index.get(number)
    return -1 if found is None else found


def _number_text(text: str) -> str | None:
    """The canonical text of the number `text` spells ("007" -> "7", "2.0" -> "2"); None if it spells none."""
    try:
        return canonical(int(text))
    except ValueError:
        pass
    try:
        return canonical(float(text))
    except ValueError:
        return None


def choose(n_levels: int, declared: str, *, task: str | None = None, n_train: int = 0) -> str:
    """The encoding of one column: `declared` unless it is `auto`, then by the number of levels, and for a
    regression target (`task`; None: never `target`) by the train rows per level."""
    if declared != "auto":
        return declared
    if n_levels <= AUTO_NATIVE_MAX_LEVELS:
        return "native"
    sparse = n_levels > AUTO_TARGET_MIN_LEVELS and n_train < AUTO_TARGET_MAX_ROWS_PER_LEVEL * n_levels
    return "target" if task == "regression" and sparse else "ordinal"


def shares(train_codes: np.ndarray, n_levels: int) -> list[float]:
    """Each level's share of the train rows (the `frequency` encoding's values)."""
    seen = train_codes[train_codes >= 0]
    counts = np.bincount(seen, minlength=n_levels).astype(np.float64)
    return (counts / max(len(train_codes), 1)).round(8).tolist()


def encode(column_codes: np.ndarray, categories: Sequence[str], encoding: str, freq: Sequence[float]) -> Any:
    """The model-input column for one categorical feature."""
    if encoding == "native":
        return pd.Categorical.from_codes(column_codes, categories=list(categories))
    if encoding == "ordinal":
        values = column_codes.astype(np.float32)
    else:
        values = np.append(np.asarray(freq, dtype=np.float32), np.float32(np.nan))[column_codes]
    values[column_codes < 0] = np.nan
    return values
