"""Column types, decided on the training data: `numeric`, `categorical`, `datetime` or `text`.

Rules (`auto`, per feature column; `data.column_types` overrides any of them):
- numbers and booleans: `numeric`;
- a pandas categorical: `categorical`;
- datetimes, and text in one date format (see `mlscale.data.dates` for the formats and the features):
  `datetime`;
- other text: `text` when a sample of `SAMPLE` of its values holds at least `TEXT_MIN_DISTINCT` distinct
  values and the median value has at least `TEXT_MIN_WORDS` words both as separated by spaces and as
  scikit-learn's tokens (free text: many distinct values, several words each; see `mlscale.data.text`
  for the features), else `categorical`. So a list of tags (`Action|Comedy|Western`: one word between
  spaces) and a title (`Pulp Fiction`, `Thing from Another World, The`: two tokens at the median, as on
  the movielens table of the quality suite) stay categorical.
A column listed in `data.categorical` is `categorical` (unless `data.column_types` names it). A table
without dates or free text is typed as before: its numeric and categorical columns only.

The format of a datetime column is detected on the table's rows; a text column's vocabulary (and whether
a datetime column has a time of day) is fitted on the train split only: its first `FIT_ROWS` rows in table
order, the same rows whether the table is in memory or streamed (train.external_memory). Both are stored with the model (`FeatureSchema.derived`), printed with the
categorical encodings ("column types: ...") and logged in `encoding.json`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mlscale.data.dates import DateColumn, detect_format
from mlscale.data.numeric import is_text_column
from mlscale.data.text import TextColumn, word_counts
from mlscale.errors import DataError
from mlscale.util.text import did_you_mean

TYPES = ("numeric", "categorical", "datetime", "text")
SAMPLE = 10_000  # values looked at per column (seeded sample)
TEXT_MIN_DISTINCT = 100
TEXT_MIN_WORDS = 3
FIT_ROWS = 50_000  # train rows the transforms are fitted on

DerivedColumn = DateColumn | TextColumn


@dataclass(frozen=True)
class Typing:
    """The type of each feature that is not left to the categorical rules (`numeric` / `categorical`
    overrides, `datetime`, `text`), and each datetime column's format."""

    types: dict[str, str] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)

    def of(self, kind: str) -> set[str]:
        return {c for c, t in self.types.items() if t == kind}


def _sample(values: pd.Series) -> pd.Series:
    present = values.dropna()
    return present.sample(SAMPLE, random_state=0) if len(present) > SAMPLE else present


def is_free_text(values: pd.Series) -> bool:
    """Many distinct values of several words each (the rule above)."""
    sample = _sample(values)
    if sample.nunique() < TEXT_MIN_DISTINCT:
        return False
    spaced = sample.astype(str).str.split().str.len().to_numpy()
    return bool(min(np.median(spaced), np.median(word_counts(sample))) >= TEXT_MIN_WORDS)


def auto_type(values: pd.Series) -> tuple[str, str | None]:
    """(type, datetime format or None) of one column by the rules above."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return "categorical", None
    fmt = detect_format(values)
    if fmt is not None:
        return "datetime", fmt
    if not is_text_column(values):
        return "numeric", None
    return ("text" if is_free_text(values) else "categorical"), None


def decide(
    table: pd.DataFrame,
    features: list[str],
    declared: Mapping[str, str],
    where: str,
    categorical: list[str] | None = None,
) -> Typing:
    """The typing of `features` (`declared`: data.column_types, `categorical`: data.categorical); a
    declared column that is not a feature, or a datetime one no format parses, is an error naming the field."""
    for col in declared:
        if col not in features:
            raise DataError(
                f"{where}.column_types: column {col!r} is not a feature{did_you_mean(col, features)}"
            )
    declared = {**{c: "categorical" for c in categorical or [] if c in features}, **declared}
    typing = Typing()
    for col in features:
        kind, fmt = auto_type(table[col])
        kind = declared.get(col, kind)
        if kind == "datetime" and fmt is None:
            fmt = detect_format(table[col])
            if fmt is None:
                example = table[col].dropna().astype(str).head(1).tolist()
                raise DataError(
                    f"{where}.column_types: column {col!r} is not dates in one format pandas parses "
                    f"(e.g. {example[0] if example else 'nothing'!r}); use one of {', '.join(TYPES)}"
                )
        if kind in ("datetime", "text") or col in declared:
            typing.types[col] = kind
        if fmt is not None and kind == "datetime":
            typing.formats[col] = fmt
    return typing


def fit(train: pd.DataFrame, typing: Typing, features: list[str]) -> dict[str, DerivedColumn]:
    """Each datetime and text feature's transform, fitted on the first `FIT_ROWS` train rows; derived names
    never clash with a feature's."""
    derived: dict[str, DerivedColumn] = {}
    train = train.iloc[:FIT_ROWS]
    taken = set(features)
    for col in features:
        kind = typing.types.get(col)
        if kind == "datetime":
            spec: DerivedColumn = DateColumn.fit(train[col], typing.formats[col])
        elif kind == "text":
            spec = TextColumn.fit(col, train[col], taken)
        else:
            continue
        clash = sorted(taken & set(spec.names(col)))
        if clash:
            raise DataError(
                f"data.features: column {clash[0]!r} has the name of a feature derived from {col!r}"
            )
        taken |= set(spec.names(col))
        derived[col] = spec
    return derived


def from_dict(d: dict[str, object]) -> DerivedColumn:
    return DateColumn.from_dict(d) if d["type"] == "datetime" else TextColumn.from_dict(d)


def describe(derived: dict[str, DerivedColumn]) -> str:
    """'date datetime (%m/%d/%Y, 7 features), remarks text (101 features)': printed with every run."""
    return ", ".join(
        f"{col} datetime ({spec.format}, {len(spec.names(col))} features)"
        if isinstance(spec, DateColumn)
        else f"{col} text ({len(spec.names(col))} features)"
        for col, spec in derived.items()
    )


def summary(col: str, spec: DerivedColumn) -> dict[str, object]:
    """One row of encoding.json for a datetime or text column."""
    if isinstance(spec, DateColumn):
        return {"column": col, "type": "datetime", "format": spec.format, "features": spec.names(col)}
    return {"column": col, "type": "text", "terms": len(spec.terms), "features": spec.names(col)}
