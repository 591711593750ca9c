"""Evaluation of a model's test predictions: pure computation (numpy, scikit-learn), typed results.

Binary: Brier score, calibration bins, the threshold that maximises F1 (and the one reaching a target
precision or recall), the confusion matrix at the chosen threshold. Multiclass: precision and recall per
class. Regression: residuals, and the error by decile of the prediction. Every task: the metrics per
value of the columns named in `evaluate.slices`, worst first. Plots: `mlscale.report.plots_eval`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlscale.data.categories import canonical
from mlscale.modeling.metrics import compute

CALIBRATION_BINS = 10
NUMERIC_SLICE_BINS = 10  # a numeric slice column with more distinct values is cut into deciles
MAX_SLICE_ROWS_SHOWN = 30
# the metric slices are ranked by, and whether larger is better
SLICE_METRIC = {
    "binary": ("logloss", "min"),
    "multiclass": ("accuracy", "max"),
    "regression": ("rmse", "min"),
}


@dataclass(frozen=True, kw_only=True)
class CalibrationBin:
    low: float
    high: float
    predicted: float  # mean predicted probability of the rows in the bin
    observed: float  # share of positives among them
    rows: int


@dataclass(frozen=True, kw_only=True)
class Threshold:
    rule: str  # "max F1", "precision >= 0.9", "recall >= 0.8"
    threshold: float  # predict the positive class when probability >= threshold
    precision: float
    recall: float
    f1: float


@dataclass(frozen=True, kw_only=True)
class Confusion:
    labels: list[str]
    counts: list[list[int]]  # rows: true label, columns: predicted label
    threshold: float | None = None  # binary: the threshold the predictions were cut at


@dataclass(frozen=True, kw_only=True)
class BinaryEvaluation:
    brier: float
    calibration: list[CalibrationBin]
    best_f1: Threshold
    target: Threshold | None  # None when no target was named, or when it cannot be reached
    target_note: str | None  # why a named target has no threshold
    chosen: Threshold  # the target's threshold when there is one, else max F1
    confusion: Confusion


@dataclass(frozen=True, kw_only=True)
class ClassScore:
    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True, kw_only=True)
class MulticlassEvaluation:
    classes: list[ClassScore]
    confusion: Confusion


@dataclass(frozen=True, kw_only=True)
class DecileError:
    decile: int  # 1: the lowest predictions
    low: float  # prediction range of the decile
    high: float
    rows: int
    bias: float  # mean of actual - predicted
    mae: float
    rmse: float


@dataclass(frozen=True, kw_only=True)
class RegressionEvaluation:
    predicted: np.ndarray
    residuals: np.ndarray  # actual - predicted
    deciles: list[DecileError]


@dataclass(frozen=True, kw_only=True)
class SliceScore:
    column: str
    value: str
    rows: int
    metrics: dict[str, float]


@dataclass(frozen=True, kw_only=True)
class SliceReport:
    column: str
    metric: str  # the metric slices are ranked by
    mode: str  # min: smaller is better
    slices: list[SliceScore]  # every slice, worst first (those under min_rows last)
    worst: list[SliceScore]  # the worst slices with at least min_rows rows
    overall: float  # the metric on all rows


@dataclass(frozen=True, kw_only=True)
class Evaluation:
    task: str
    split: str
    rows: int
    binary: BinaryEvaluation | None = None
    multiclass: MulticlassEvaluation | None = None
    regression: RegressionEvaluation | None = None
    slices: list[SliceReport] = field(default_factory=list)


# -- binary ----------------------------------------------------------------------------------------
def brier(y: np.ndarray, proba: np.ndarray) -> float:
    return float(np.mean((np.asarray(proba, dtype=np.float64) - np.asarray(y, dtype=np.float64)) ** 2))


def calibration(y: np.ndarray, proba: np.ndarray, bins: int = CALIBRATION_BINS) -> list[CalibrationBin]:
    """Equal-width probability bins ([0, 0.1), ..., [0.9, 1.0]); empty bins are left out."""
    p = np.asarray(proba, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1).round(6)
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    out = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            out.append(
                CalibrationBin(
                    low=float(edges[b]),
                    high=float(edges[b + 1]),
                    predicted=float(p[mask].mean()),
                    observed=float(np.mean(y[mask])),
                    rows=int(mask.sum()),
                )
            )
    return out


def _curve(y: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds ascending, precision, recall) of predicting positive when proba >= threshold."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(y, proba)
    return thresholds, precision[:-1], recall[:-1]


def _threshold(rule: str, t: float, precision: float, recall: float) -> Threshold:
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return Threshold(rule=rule, threshold=float(t), precision=float(precision), recall=float(recall), f1=f1)


def f1_threshold(y: np.ndarray, proba: np.ndarray) -> Threshold:
    """The threshold with the highest F1 (the highest such threshold on ties)."""
    thresholds, precision, recall = _curve(y, proba)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    best = len(f1) - 1 - int(np.argmax(f1[::-1]))
    return _threshold("max F1", thresholds[best], precision[best], recall[best])


def target_threshold(
    y: np.ndarray, proba: np.ndarray, *, precision: float | None = None, recall: float | None = None
) -> Threshold | None:
    """The lowest threshold whose precision reaches `precision` (the most recall at that precision), or
    the highest whose recall reaches `recall` (the most precision at that recall); None if none does."""
    thresholds, prec, rec = _curve(y, proba)
    if precision is not None:
        ok = np.flatnonzero(prec >= precision)
        i = int(ok[0]) if len(ok) else None
        rule = f"precision >= {precision:g}"
    elif recall is not None:
        ok = np.flatnonzero(rec >= recall)
        i = int(ok[-1]) if len(ok) else None
        rule = f"recall >= {recall:g}"
    else:
        return None
    return None if i is None else _threshold(rule, thresholds[i], prec[i], rec[i])


def confusion(
    y: np.ndarray, pred: np.ndarray, labels: list[str], threshold: float | None = None
) -> Confusion:
    k = len(labels)
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (np.asarray(y, dtype=np.int64), np.asarray(pred, dtype=np.int64)), 1)
    return Confusion(labels=labels, counts=counts.tolist(), threshold=threshold)


def evaluate_binary(
    y: np.ndarray,
    proba: np.ndarray,
    labels: list[str],
    *,
    target_precision: float | None = None,
    target_recall: float | None = None,
) -> BinaryEvaluation:
    p = np.asarray(proba, dtype=np.float64).reshape(-1)
    best = f1_threshold(y, p)
    target = target_threshold(y, p, precision=target_precision, recall=target_recall)
    note = None
    if target is None and (target_precision is not None or target_recall is not None):
        what = (
            f"precision {target_precision:g}" if target_precision is not None else f"recall {target_recall:g}"
        )
        note = f"no threshold reaches {what} on this split; the confusion matrix uses the max-F1 threshold"
    chosen = target or best
    return BinaryEvaluation(
        brier=brier(y, p),
        calibration=calibration(y, p),
        best_f1=best,
        target=target,
        target_note=note,
        chosen=chosen,
        confusion=confusion(y, (p >= chosen.threshold).astype(int), labels, chosen.threshold),
    )


# -- multiclass ------------------------------------------------------------------------------------
def evaluate_multiclass(y: np.ndarray, proba: np.ndarray, labels: list[str]) -> MulticlassEvaluation:
    from sklearn.metrics import precision_recall_fscore_support

    pred = np.asarray(proba).reshape(len(y), -1).argmax(axis=1)
    k = len(labels)
    precision, recall, f1, support = precision_recall_fscore_support(
        y, pred, labels=list(range(k)), zero_division=0
    )
    classes = [
        ClassScore(
            label=labels[i],
            precision=float(precision[i]),
            recall=float(recall[i]),
            f1=float(f1[i]),
            support=int(support[i]),
        )
        for i in range(k)
    ]
    return MulticlassEvaluation(classes=classes, confusion=confusion(y, pred, labels))


# -- regression ------------------------------------------------------------------------------------
def error_by_decile(y: np.ndarray, pred: np.ndarray, groups: int = 10) -> list[DecileError]:
    """Rows ordered by prediction and cut into `groups` near-equal groups (fewer for fewer rows)."""
    order = np.argsort(np.asarray(pred, dtype=np.float64), kind="stable")
    out = []
    for i, part in enumerate(p for p in np.array_split(order, min(groups, len(order))) if len(p)):
        err = np.asarray(y, dtype=np.float64)[part] - np.asarray(pred, dtype=np.float64)[part]
        out.append(
            DecileError(
                decile=i + 1,
                low=float(pred[part].min()),
                high=float(pred[part].max()),
                rows=len(part),
                bias=float(err.mean()),
                mae=float(np.abs(err).mean()),
                rmse=float(np.sqrt((err**2).mean())),
            )
        )
    return out


def evaluate_regression(y: np.ndarray, pred: np.ndarray) -> RegressionEvaluation:
    p = np.asarray(pred, dtype=np.float64).reshape(-1)
    return RegressionEvaluation(
        predicted=p, residuals=np.asarray(y, dtype=np.float64) - p, deciles=error_by_decile(y, p)
    )


# -- slices ----------------------------------------------------------------------------------------
def slice_labels(values: pd.Series) -> np.ndarray:
    """Each row's slice as text: the canonical category text, or a decile range for a numeric column
    with many distinct values; missing values form their own slice."""
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric and values.nunique(dropna=True) > NUMERIC_SLICE_BINS:
        cut = pd.qcut(values.astype(np.float64), NUMERIC_SLICE_BINS, duplicates="drop")
        text = cut.astype(str).to_numpy(dtype=object)
        text[values.isna().to_numpy()] = "(missing)"
        return text
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    names = np.array([canonical(u) or "(missing)" for u in uniques] + ["(missing)"], dtype=object)
    return names[codes]


def slice_report(
    task: str,
    column: str,
    values: pd.Series,
    y: np.ndarray,
    raw: np.ndarray,
    *,
    min_rows: int,
    worst: int = 5,
) -> SliceReport:
    """The task's metrics per slice of `values` (aligned with y and raw), ranked worst first."""
    metric, mode = SLICE_METRIC[task]
    labels = slice_labels(values.reset_index(drop=True))
    raw2 = np.asarray(raw)
    scores = []
    for value in pd.unique(labels):
        mask = labels == value
        scores.append(
            SliceScore(
                column=column,
                value=str(value),
                rows=int(mask.sum()),
                metrics=compute(task, y[mask], raw2[mask]),
            )
        )
    sign = 1.0 if mode == "min" else -1.0

    def badness(s: SliceScore) -> tuple[int, float]:
        v = s.metrics.get(metric, float("nan"))
        return (0 if s.rows >= min_rows and v == v else 1, -sign * v if v == v else 0.0)

    ranked = sorted(scores, key=badness)
    overall = compute(task, y, raw2).get(metric, float("nan"))
    eligible = [s for s in ranked if s.rows >= min_rows]
    return SliceReport(
        column=column, metric=metric, mode=mode, slices=ranked, worst=eligible[:worst], overall=overall
    )


# -- all of it -------------------------------------------------------------------------------------
def evaluate_predictions(
    task: str,
    y: np.ndarray,
    raw: np.ndarray,
    *,
    classes: list[Any] | None,
    split: str = "test",
    target_precision: float | None = None,
    target_recall: float | None = None,
    slices: Mapping[str, pd.Series] | None = None,
    slice_min_rows: int = 20,
) -> Evaluation:
    """Everything above for one split's labels (class codes or values) and raw predictions."""
    labels = [str(c) for c in classes or []]
    binary: BinaryEvaluation | None = None
    multiclass: MulticlassEvaluation | None = None
    regression: RegressionEvaluation | None = None
    if task == "binary":
        binary = evaluate_binary(
            y, raw, labels or ["0", "1"], target_precision=target_precision, target_recall=target_recall
        )
    elif task == "multiclass":
        multiclass = evaluate_multiclass(y, raw, labels)
    else:
        regression = evaluate_regression(y, raw)
    reports = [
        slice_report(task, col, values, y, raw, min_rows=slice_min_rows)
        for col, values in (slices or {}).items()
    ]
    return Evaluation(
        task=task,
        split=split,
        rows=len(y),
        binary=binary,
        multiclass=multiclass,
        regression=regression,
        slices=reports,
    )
