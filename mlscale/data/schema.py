"""The FeatureSchema saved beside every model: features, categorical levels and encodings, classes."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from mlscale.data import column_types
from mlscale.data.categories import codes as category_codes
from mlscale.data.categories import encode as encode_column
from mlscale.data.numeric import numeric
from mlscale.data.target_stats import TARGET
from mlscale.data.target_stats import encode as target_encode
from mlscale.errors import DataError


@dataclass(frozen=True)
class FeatureSchema:
    """What a model needs to turn a raw table into model input, saved beside every model.

    `categories` holds each categorical column's levels in canonical text (see `mlscale.data.categories`),
    `encodings` how each is fed to xgboost (absent: native), `frequencies` the train share of each level
    for the `frequency` encoding, `target_stats` the full-train target statistics of each level, then the
    prior, for the `target` encoding (`mlscale.data.target_stats`), `derived` each datetime and text
    column's transform (`column_types`): such a column becomes several model-input columns
    (`model_features`)."""

    target: str
    task: str
    features: list[str]
    categories: dict[str, list[Any]] = field(default_factory=dict)
    classes: list[Any] | None = None
    encodings: dict[str, str] = field(default_factory=dict)
    frequencies: dict[str, list[float]] = field(default_factory=dict)
    target_stats: dict[str, list[float]] = field(default_factory=dict)
    derived: dict[str, column_types.DerivedColumn] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        derived = {"derived": {k: v.to_dict() for k, v in self.derived.items()}} if self.derived else {}
        return {
            "target": self.target,
            "task": self.task,
            "features": list(self.features),
            "categories": {k: list(v) for k, v in self.categories.items()},
            "classes": None if self.classes is None else list(self.classes),
            "encodings": dict(self.encodings),
            "frequencies": {k: list(v) for k, v in self.frequencies.items()},
            "target_stats": {k: list(v) for k, v in self.target_stats.items()},
        } | derived

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureSchema:
        return cls(
            target=d["target"],
            task=d["task"],
            features=list(d["features"]),
            categories={k: list(v) for k, v in d.get("categories", {}).items()},
            classes=d.get("classes"),
            encodings=dict(d.get("encodings", {})),
            frequencies={k: list(v) for k, v in d.get("frequencies", {}).items()},
            target_stats={k: list(v) for k, v in d.get("target_stats", {}).items()},
            derived={k: column_types.from_dict(v) for k, v in d.get("derived", {}).items()},
        )

    def encoding(self, col: str) -> str:
        return self.encodings.get(col, "native")

    @cached_property
    def sources(self) -> dict[str, str]:
        """Each model-input column -> the feature it comes from (itself, or a datetime / text column)."""
        return {
            name: col
            for col in self.features
            for name in (self.derived[col].names(col) if col in self.derived else [col])
        }

    @property
    def text_columns(self) -> list[str]:
        """The columns a predict or explain file is read with as text: categorical, datetime and text ones
        (Arrow would read a csv column of `10.50` as the number 10.5, whose words differ)."""
        return [*self.categories, *self.derived]

    @property
    def model_features(self) -> list[str]:
        """The columns `frame` returns, in order: the model's feature names."""
        return list(self.sources)

    @cached_property
    def _index(self) -> dict[str, dict[str, int]]:
        return {col: {c: i for i, c in enumerate(cats)} for col, cats in self.categories.items()}

    def frame(self, df: pd.DataFrame, *, where: str = "input") -> tuple[pd.DataFrame, dict[str, int]]:
        """Select and type the feature columns; returns the frame and unseen-category counts."""
        missing = [c for c in self.features if c not in df.columns]
        if missing:
            raise DataError(f"{where}: missing feature column(s) {', '.join(map(repr, missing))}")
        out = {}
        unseen: dict[str, int] = {}
        for col in self.features:
            values = df[col]
            if col in self.derived:
                out.update(self.derived[col].columns(col, values))
            elif col in self.categories:
                col_codes = category_codes(values, self._index[col])
                new_nan = int(np.count_nonzero(col_codes < 0) - values.isna().sum())
                if new_nan:
                    unseen[col] = new_nan
                if self.encoding(col) == TARGET:
                    out[col] = target_encode(col_codes, values.isna().to_numpy(), self.target_stats[col])
                else:
                    out[col] = encode_column(
                        col_codes, self.categories[col], self.encoding(col), self.frequencies.get(col, ())
                    )
            else:
                out[col] = numeric(values)
        return pd.DataFrame(out, index=df.index), unseen
