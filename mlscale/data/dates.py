"""Datetime columns: the format detected on the training data, and the features xgboost is given.

A column of text is a datetime column when one format, guessed by pandas (`guess_datetime_format`, US
month-first for `M/D/YYYY`) from its first distinct values, parses at least `MIN_PARSED` of its distinct
values (a sample of `SAMPLE` of them) and names a year, a month and a day (or a month and a year,
`%b %Y`); ISO dates (with or without a time, with or without an offset) are parsed as `ISO8601`. Text of
digits only (`20110101`, an id) is never a date. A column pandas already holds as datetimes is one too.

The format is stored with the model, so that predict parses as training did. Features (`<col>__<part>`):
year, month, day, day of week (Monday 0), day of year, hour (only where the train values hold a time),
and `days`, the value as days since 1970-01-01 (for trends). Values with an offset are taken in UTC.
Missing stays missing; a value predict cannot parse with the stored format becomes missing, like an
unseen category.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pandas.tseries.api import guess_datetime_format

MIN_PARSED = 0.95  # share of the distinct sampled values the format must parse
SAMPLE = 1_000  # distinct values tried
GUESSED_FROM = 20  # distinct values a format is guessed from
ISO = "ISO8601"
PARTS = ("year", "month", "day", "day_of_week", "day_of_year", "hour")
EPOCH = np.datetime64("1970-01-01T00:00:00", "ns")
NS_PER_DAY = 86_400 * 10**9


def _has_date(fmt: str) -> bool:
    has_year = "%Y" in fmt or "%y" in fmt
    return has_year and any(m in fmt for m in ("%m", "%b", "%B"))


def parse(values: pd.Series, fmt: str) -> pd.Series:
    """The values as naive datetimes (UTC where they carry an offset); NaT where missing or unparseable."""
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values, utc=True)
    else:
        text = values.astype(object).map(lambda v: None if v is None or v != v else str(v))
        parsed = pd.to_datetime(text, format=fmt, errors="coerce", utc=True)
    return pd.Series(parsed.dt.tz_localize(None).astype("datetime64[ns]"), index=values.index)


def detect_format(values: pd.Series) -> str | None:
    """The format the column's values are dates in (`ISO8601` for datetimes already), or None."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return ISO
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return None
    distinct = pd.Series(values.dropna().astype(str).unique()[:SAMPLE], dtype=object)
    if distinct.empty or distinct.str.fullmatch(r"\d+").all():
        return None
    with warnings.catch_warnings():  # "Parsing dates in %d/%m/%Y format when dayfirst=False ..."
        warnings.simplefilter("ignore", UserWarning)
        guessed = Counter(guess_datetime_format(v) for v in distinct.iloc[:GUESSED_FROM])
    candidates = [f for f, _ in guessed.most_common() if f is not None and _has_date(f)]
    if any(f.startswith("%Y-%m-%d") for f in candidates):
        candidates.insert(0, ISO)
    best, best_share = None, 0.0
    for fmt in candidates:
        share = float(parse(distinct, fmt).notna().mean())
        if share > best_share:
            best, best_share = fmt, share
    return best if best_share >= MIN_PARSED else None


@dataclass(frozen=True)
class DateColumn:
    """A datetime feature's parsing format and the parts it is given as (stored with the model)."""

    kind: ClassVar[str] = "datetime"
    format: str
    parts: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "format": self.format, "parts": list(self.parts)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DateColumn:
        return cls(format=d["format"], parts=list(d["parts"]))

    @classmethod
    def fit(cls, train: pd.Series, fmt: str) -> DateColumn:
        """The parts of the train values: the hour only where some value has a time of day."""
        parsed = parse(train, fmt)
        has_time = bool((parsed.dropna() != parsed.dropna().dt.normalize()).any())
        return cls(format=fmt, parts=[p for p in PARTS if p != "hour" or has_time])

    def names(self, col: str) -> list[str]:
        return [f"{col}__{p}" for p in (*self.parts, "days")]

    def columns(self, col: str, values: pd.Series) -> dict[str, np.ndarray]:
        """The model-input columns of one datetime feature (float32 parts, float64 days; NaN: missing)."""
        parsed = parse(values, self.format)
        out = {
            name: getattr(parsed.dt, part).to_numpy(dtype=np.float32, na_value=np.nan)
            for name, part in zip(self.names(col), self.parts, strict=False)
        }
        ns = parsed.to_numpy(dtype="datetime64[ns]")
        days = (ns - EPOCH).astype(np.int64) / NS_PER_DAY
        out[f"{col}__days"] = np.where(np.isnat(ns), np.nan, days)
        return out
