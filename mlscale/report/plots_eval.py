"""Evaluation plots (PNG, matplotlib without pyplot): calibration, thresholds, confusion at the chosen
threshold, per-class precision/recall, residuals and error by decile. Data: `mlscale.assess.evaluation`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlscale.assess.evaluation import (
    BinaryEvaluation,
    Confusion,
    Evaluation,
    MulticlassEvaluation,
    RegressionEvaluation,
)
from mlscale.report.plots import figures, save_png

MAX_SCATTER_POINTS = 20_000

Captioned = list[tuple[Path, str]]


def evaluation_plots(
    evaluation: Evaluation, out: Path, *, y: np.ndarray, proba: np.ndarray | None
) -> Captioned:
    """Every plot of one evaluation; (file, caption) pairs."""
    out.mkdir(parents=True, exist_ok=True)
    split = evaluation.split
    if evaluation.binary is not None and proba is not None:
        return _binary(evaluation.binary, out, y, proba, split)
    if evaluation.multiclass is not None:
        return _multiclass(evaluation.multiclass, out, split)
    if evaluation.regression is not None:
        return _regression(evaluation.regression, out, split)
    return []


def _binary(ev: BinaryEvaluation, out: Path, y: np.ndarray, proba: np.ndarray, split: str) -> Captioned:
    from sklearn.metrics import precision_recall_curve

    fig, (a1, a2) = figures().subplots(1, 2, figsize=(9, 4))
    a1.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    a1.plot([b.predicted for b in ev.calibration], [b.observed for b in ev.calibration], "o-", label="model")
    a1.set_xlabel("mean predicted probability")
    a1.set_ylabel("share of positives")
    a1.set_title(f"Calibration (Brier {ev.brier:.4f})")
    a1.legend(loc="upper left")
    a2.hist(proba, bins=20, range=(0, 1), color="#4c72b0")
    a2.set_xlabel("predicted probability")
    a2.set_ylabel("rows")
    a2.set_title(f"Predicted probabilities ({split} split)")
    files = [
        (
            save_png(fig, out / "calibration.png"),
            f"Calibration curve and predicted probabilities, {split} split",
        )
    ]

    precision, recall, thresholds = precision_recall_curve(y, proba)
    p, r = precision[:-1], recall[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
    fig, ax = figures().subplots(figsize=(6, 4))
    for values, name in ((p, "precision"), (r, "recall"), (f1, "F1")):
        ax.plot(thresholds, values, label=name)
    for t, style in ((ev.best_f1, "--"), (ev.target, ":")):
        if t is not None:
            ax.axvline(
                t.threshold, color="black", linestyle=style, linewidth=1, label=f"{t.rule}: {t.threshold:.3f}"
            )
    ax.set_xlabel("threshold")
    ax.set_title("Precision, recall and F1 by threshold")
    ax.legend(loc="lower left", fontsize=8)
    files.append((save_png(fig, out / "thresholds.png"), "Precision, recall and F1 by threshold"))
    files.append(_confusion(ev.confusion, out, split))
    return files


def _confusion(cm: Confusion, out: Path, split: str) -> tuple[Path, str]:
    counts = np.asarray(cm.counts)
    k = len(cm.labels)
    fig, ax = figures().subplots(figsize=(1.6 + 0.6 * k, 1.2 + 0.6 * k))
    ax.imshow(counts, cmap="Blues")
    ax.set_xticks(range(k), cm.labels, rotation=45)
    ax.set_yticks(range(k), cm.labels)
    top = counts.max() if counts.size else 0
    for (i, j), v in np.ndenumerate(counts):
        ax.text(j, i, str(v), ha="center", va="center", color="white" if v > top / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    at = "" if cm.threshold is None else f" at threshold {cm.threshold:.3f}"
    ax.set_title(f"Confusion matrix{at}")
    return save_png(fig, out / "confusion_at_threshold.png"), f"Confusion matrix{at}, {split} split"


def _multiclass(ev: MulticlassEvaluation, out: Path, split: str) -> Captioned:
    labels = [c.label for c in ev.classes]
    idx = np.arange(len(labels))
    fig, ax = figures().subplots(figsize=(max(5.0, 0.5 * len(labels) + 2), 4))
    ax.bar(idx - 0.2, [c.precision for c in ev.classes], width=0.4, label="precision")
    ax.bar(idx + 0.2, [c.recall for c in ev.classes], width=0.4, label="recall")
    ax.set_xticks(idx, labels, rotation=45)
    ax.set_ylim(0, 1.05)
    ax.set_title(f"Precision and recall per class ({split} split)")
    ax.legend(loc="lower right")
    files = [(save_png(fig, out / "per_class.png"), f"Precision and recall per class, {split} split")]
    files.append(_confusion(ev.confusion, out, split))
    return files


def _regression(ev: RegressionEvaluation, out: Path, split: str) -> Captioned:
    step = max(1, len(ev.predicted) // MAX_SCATTER_POINTS)
    fig, (a1, a2) = figures().subplots(1, 2, figsize=(10, 4))
    a1.scatter(ev.predicted[::step], ev.residuals[::step], s=8, alpha=0.5)
    a1.axhline(0, color="black", linewidth=1)
    centers = [(d.low + d.high) / 2 for d in ev.deciles]
    a1.plot(centers, [d.bias for d in ev.deciles], "o-", color="#c44e52", label="mean residual per decile")
    a1.set_xlabel("predicted")
    a1.set_ylabel("actual - predicted")
    a1.set_title("Residuals vs prediction")
    a1.legend(loc="upper left", fontsize=8)
    names = [str(d.decile) for d in ev.deciles]
    a2.bar(names, [d.mae for d in ev.deciles], color="#4c72b0", label="MAE")
    a2.plot(names, [d.rmse for d in ev.deciles], "o-", color="#dd8452", label="RMSE")
    a2.set_xlabel("decile of the prediction (1: lowest)")
    a2.set_title("Error by decile of the prediction")
    a2.legend(loc="upper left", fontsize=8)
    return [
        (
            save_png(fig, out / "residuals.png"),
            f"Residuals and error by decile of the prediction, {split} split",
        )
    ]
