"""SHAP values from xgboost itself (`Booster.predict(pred_contribs=True)`, no interactions): pure computation.

`contributions` is what every engine runs (in process, or in a Ray task); the rest turns its output into
what a person reads: contributions toward one output per row, features ranked by mean |SHAP|, and each
feature's values as text for categorical columns (the category, not the code xgboost was fed).
Plots: `mlscale.report.plots_explain`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlscale.data import FeatureSchema
from mlscale.modeling.model import Model

BIAS = "bias"
PREFIX = "shap_"


def contributions(booster: Any, x: pd.DataFrame, *, nthread: int | None = None) -> np.ndarray:
    """xgboost's exact TreeSHAP for typed feature rows: (rows, features + 1) with the bias last, or
    (rows, classes, features + 1) for multiclass. Each row sums to the model's raw margin."""
    import xgboost as xgb

    matrix = xgb.DMatrix(x, enable_categorical=True, nthread=nthread or 0)
    return np.asarray(
        booster.predict(matrix, pred_contribs=True, pred_interactions=False, validate_features=False)
    )


def sample_positions(rows: int, size: int, seed: int) -> np.ndarray:
    """Which rows to explain: all when there are at most `size`, else a seeded sample in row order."""
    if rows <= size:
        return np.arange(rows)
    return np.sort(np.random.default_rng(seed).choice(rows, size=size, replace=False))


@dataclass(frozen=True, kw_only=True)
class FeatureEffect:
    feature: str
    mean_abs: float  # mean |SHAP| over the explained rows
    categorical: bool


@dataclass(frozen=True, kw_only=True)
class Explanation:
    """Contributions toward one output per row: the log-odds of class 1 (binary), of the row's predicted
    class (multiclass) or the prediction itself (regression)."""

    features: list[str]
    values: np.ndarray  # (rows, features)
    bias: np.ndarray  # (rows,)
    shown: dict[str, np.ndarray]  # per feature: numbers, or category text (object array, None: missing)
    output: str
    ranking: list[FeatureEffect]  # by mean |SHAP|, largest first
    # per datetime / text column, its model-input columns' SHAP summed, by mean |SHAP| (empty: none)
    by_column: list[FeatureEffect] = field(default_factory=list)


def toward_output(task: str, contribs: np.ndarray, classes: list[Any] | None) -> tuple[np.ndarray, str]:
    """(rows, features + 1) contributions toward the output a person reads for each row, and its name."""
    if contribs.ndim == 3:  # multiclass: the class each row is predicted as (largest margin)
        predicted = contribs.sum(axis=2).argmax(axis=1)
        return contribs[np.arange(len(contribs)), predicted], "log-odds of the predicted class"
    if task == "binary":
        positive = str(classes[1]) if classes and len(classes) > 1 else "1"
        return contribs, f"log-odds of class {positive}"
    return contribs, "prediction"


def category_text(schema: FeatureSchema, col: str, encoded: pd.Series) -> np.ndarray:
    """A categorical feature's model input back to its category text (None: missing or unseen, as the
    model saw it): a native column holds the text already, an ordinal code is the level's position, a
    frequency or target value is the level's train share or statistic (levels sharing one value are named
    together, "a|b")."""
    cats = schema.categories[col]
    encoding = schema.encoding(col)
    if encoding == "native":
        return np.array(
            [None if v is None or v != v else str(v) for v in encoded.astype(object)], dtype=object
        )
    numbers = encoded.to_numpy(dtype=np.float64, na_value=np.nan)
    if encoding == "ordinal":
        names = np.array([*cats, None], dtype=object)
        codes = np.where(np.isnan(numbers), len(cats), numbers).astype(np.int64)
        return names[np.clip(codes, 0, len(cats))]
    by_share: dict[float, list[str]] = {}  # frequency: train shares; target: the stored statistics
    per_level = schema.frequencies.get(col) or schema.target_stats.get(col, [])
    for level, share in zip(cats, per_level, strict=False):
        by_share.setdefault(float(np.float32(share)), []).append(str(level))
    return np.array(
        [None if v != v else "|".join(by_share.get(float(v), ["?"])) for v in numbers], dtype=object
    )


def shown_values(schema: FeatureSchema, x: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each feature's values as a person reads them: category text for a categorical column (whatever
    its encoding), the model input for a numeric one."""
    return {
        col: category_text(schema, col, x[col])
        if col in schema.categories
        else x[col].to_numpy(dtype=np.float64, na_value=np.nan)
        for col in schema.model_features
    }


def rank(features: list[str], values: np.ndarray, categorical: set[str]) -> list[FeatureEffect]:
    mean_abs = np.abs(values).mean(axis=0) if len(values) else np.zeros(len(features))
    order = np.argsort(-mean_abs, kind="stable")
    return [
        FeatureEffect(
            feature=features[i], mean_abs=float(mean_abs[i]), categorical=features[i] in categorical
        )
        for i in order
    ]


def explanation(schema: FeatureSchema, contribs: np.ndarray, x: pd.DataFrame) -> Explanation:
    """An `Explanation` of the typed feature rows `x` from their `contributions`."""
    values, output = toward_output(schema.task, contribs, schema.classes)
    features = schema.model_features
    summed = column_sums(schema, values[:, :-1])
    return Explanation(
        features=features,
        values=values[:, :-1],
        bias=values[:, -1],
        shown=shown_values(schema, x),
        output=output,
        ranking=rank(features, values[:, :-1], set(schema.categories)),
        by_column=rank(list(summed), np.column_stack(list(summed.values())), set()) if summed else [],
    )


def column_sums(schema: FeatureSchema, values: np.ndarray) -> dict[str, np.ndarray]:
    """Per datetime / text column, the SHAP values of its model-input columns summed per row (`values`:
    rows x model features)."""
    sources = np.array(list(schema.sources.values()), dtype=object)
    return {col: values[:, sources == col].sum(axis=1) for col in schema.derived}


def contribution_columns(schema: FeatureSchema) -> list[str]:
    """Output columns of `mlscale explain`: shap_<feature>, shap_bias, then per datetime / text column its
    features' values summed, shap_<column> (per class for multiclass: shap_<class>_<feature>)."""
    names = [*schema.model_features, BIAS, *schema.derived]
    if schema.task != "multiclass":
        return [f"{PREFIX}{n}" for n in names]
    return [f"{PREFIX}{c}_{n}" for c in schema.classes or [] for n in names]


def contribution_frame(
    model: Model, df: pd.DataFrame, *, id_columns: tuple[str, ...] | list[str] = (), where: str = "input"
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Per-row contributions of raw rows, id columns passed through: a scorer for `mlscale explain`
    (same shape as `Model.predict_frame`: the frame and unseen-category counts)."""
    x, unseen = model.schema.frame(df, where=where)
    contribs = contributions(model.booster, x)
    if model.schema.derived:  # append the per-column sums after the bias, per class for multiclass
        per_class = contribs if contribs.ndim == 3 else contribs[:, None, :]
        sums = [column_sums(model.schema, per_class[:, k, :-1]) for k in range(per_class.shape[1])]
        stacked = np.stack([np.column_stack(list(s.values())) for s in sums], axis=1)
        contribs = np.concatenate([per_class, stacked], axis=2)
    flat = contribs.reshape(len(x), -1).astype(np.float64)
    out = (
        df[list(id_columns)].reset_index(drop=True).copy()
        if id_columns
        else pd.DataFrame(index=range(len(df)))
    )
    values = pd.DataFrame(flat, columns=contribution_columns(model.schema))
    return pd.concat([out, values], axis=1), unseen
