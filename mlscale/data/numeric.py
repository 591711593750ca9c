"""Numeric features as xgboost takes them: text parsed, nullable types as float, ±inf as missing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

FLOAT32_MAX = float(
    np.finfo(np.float32).max
)  # xgboost stores values in float32: larger ones are out of range


def numeric(values: pd.Series) -> Any:
    """A numeric feature as xgboost takes it: text (object, str, string) parsed, unparsable text and
    ±inf as missing, nullable and Arrow-backed numbers as plain float with NaN."""
    if values.dtype == bool:
        return values
    if pd.api.types.is_bool_dtype(values):  # nullable boolean
        values = values.astype("Float64")
    elif not pd.api.types.is_numeric_dtype(values):
        values = pd.to_numeric(values.astype(object), errors="coerce")
    if not isinstance(values.dtype, np.dtype):  # Int64, Float64, int64[pyarrow]...: NA -> NaN
        values = pd.Series(values.to_numpy(dtype=np.float64, na_value=np.nan), index=values.index)
    if values.dtype.kind == "f":
        # xgboost refuses ±inf ("Input data contains `inf`"), and so values past float32's range, which it
        # stores them in: like NaN, both mean "unknown" here
        too_big = np.abs(values.to_numpy()) > FLOAT32_MAX  # NaN compares False: stays NaN
        if too_big.any():
            values = values.mask(too_big)
    return values


def is_text_column(s: pd.Series) -> bool:
    """Text (string / object / category) columns: categorical unless data.categorical says otherwise."""
    return not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s))


def is_numeric_target(s: pd.Series) -> bool:
    """What task regression accepts, and what task inference reads as numbers: numeric, not boolean."""
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
