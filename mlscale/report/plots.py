"""PNG plots for a run (matplotlib figures rendered to PNG): what a data scientist looks at first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlscale.util.written import PNG_SOFTWARE, atomic_file

PLOT_FILES = (
    "feature_importance.png",
    "learning_curve.png",
    "predicted_vs_truth.png",
    "roc_pr.png",
    "confusion_matrix.png",
    "predicted_vs_actual.png",
    "tune_trials.png",
    "tune_params.png",
)
"""Every file `run_plots` may write (a rerun's output check looks at each)."""


class _Figures:
    """pyplot's subplots/close, without pyplot: no global backend switch, so a notebook's inline
    plots keep working after a run, and nothing needs a display."""

    @staticmethod
    def subplots(nrows: int = 1, ncols: int = 1, *, figsize: Any = None, squeeze: bool = True) -> Any:
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize)
        return fig, fig.subplots(nrows, ncols, squeeze=squeeze)

    @staticmethod
    def close(fig: Any) -> None:
        fig.clear()


def figures() -> _Figures:
    """Figures without pyplot (see `_Figures`)."""
    return _Figures()


def save_png(fig: Any, path: Path) -> Path:
    """Write the figure atomically, marked as mlscale's (so a rerun may replace it, see `mlscale.util.written`)."""
    fig.tight_layout()
    with atomic_file(path) as f:
        fig.savefig(f, format="png", dpi=90, metadata={"Software": PNG_SOFTWARE})
    figures().close(fig)
    return path


def run_plots(
    out_dir: str | Path,
    *,
    task: str,
    y_true: np.ndarray,
    raw: np.ndarray,
    classes: list[Any] | None,
    history: dict[str, dict[str, list[float]]],
    importance: dict[str, float],
    trials: list[Any] | None = None,
    tune_metric: str | None = None,
) -> list[Path]:
    """All plots for one run; returns the written files."""
    plt = figures()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []

    if importance:
        top = sorted(importance.items(), key=lambda kv: kv[1], reverse=True)[:20][::-1]
        fig, ax = plt.subplots(figsize=(6, max(2.5, 0.3 * len(top))))
        ax.barh([k for k, _ in top], [v for _, v in top], color="#4c72b0")
        ax.set_xlabel("gain")
        ax.set_title("Feature importance (gain)")
        files.append(save_png(fig, out / "feature_importance.png"))

    if history:
        metrics = sorted({m for split in history.values() for m in split})
        fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.5), squeeze=False)
        for ax, metric in zip(axes[0], metrics, strict=True):
            for split, values in history.items():
                if metric in values:
                    ax.plot(values[metric], label=split)
            ax.set_xlabel("boosting round")
            ax.set_title(metric)
            ax.legend()
        files.append(save_png(fig, out / "learning_curve.png"))

    if len(y_true):
        if task == "binary":
            files += _binary(plt, out, y_true, np.asarray(raw).reshape(-1))
        elif task == "multiclass":
            pred = np.asarray(raw).reshape(len(y_true), -1).argmax(axis=1)
            files.append(_confusion(plt, out, y_true, pred, classes or []))
        else:
            files += _regression(plt, out, y_true, np.asarray(raw))

    if trials:
        files += _tuning(plt, out, trials, tune_metric or "metric")
    return files


def _binary(plt: Any, out: Path, y: np.ndarray, proba: np.ndarray) -> list[Path]:
    from sklearn.metrics import precision_recall_curve, roc_auc_score, roc_curve

    files = []
    fig, ax = plt.subplots(figsize=(6, 4))
    rng = np.random.default_rng(0)
    jitter = rng.uniform(-0.08, 0.08, len(y))
    ax.scatter(proba, y + jitter, c=np.where(y == (proba >= 0.5), "#55a868", "#c44e52"), s=12, alpha=0.7)
    ax.axvline(0.5, color="black", linestyle="--", linewidth=1, label="threshold 0.5")
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("truth (jittered)")
    ax.set_title("Predicted probability vs truth (test split)")
    ax.legend(loc="center right")
    files.append(save_png(fig, out / "predicted_vs_truth.png"))

    fpr, tpr, _ = roc_curve(y, proba)
    prec, rec, _ = precision_recall_curve(y, proba)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 4))
    a1.plot(fpr, tpr, label=f"AUC {roc_auc_score(y, proba):.4f}")
    a1.plot([0, 1], [0, 1], color="grey", linestyle=":")
    a1.set_xlabel("false positive rate")
    a1.set_ylabel("true positive rate")
    a1.set_title("ROC")
    a1.legend()
    a2.plot(rec, prec)
    a2.set_xlabel("recall")
    a2.set_ylabel("precision")
    a2.set_title("Precision-recall")
    files.append(save_png(fig, out / "roc_pr.png"))
    files.append(_confusion(plt, out, y, (proba >= 0.5).astype(int), [0, 1]))
    return files


def _confusion(plt: Any, out: Path, y: np.ndarray, pred: np.ndarray, classes: list[Any]) -> Path:
    from sklearn.metrics import confusion_matrix

    labels = list(range(max(len(classes), int(max(y.max(), pred.max())) + 1)))
    cm = confusion_matrix(y, pred, labels=labels)
    fig, ax = plt.subplots(figsize=(1.2 + 0.6 * len(labels), 1 + 0.6 * len(labels)))
    ax.imshow(cm, cmap="Blues")
    names = [str(c) for c in classes] if classes else [str(i) for i in labels]
    ax.set_xticks(labels, names, rotation=45)
    ax.set_yticks(labels, names)
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, str(v), ha="center", va="center", color="white" if v > cm.max() / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix (test split)")
    return save_png(fig, out / "confusion_matrix.png")


def _regression(plt: Any, out: Path, y: np.ndarray, pred: np.ndarray) -> list[Path]:
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 4))
    a1.scatter(y, pred, s=10, alpha=0.6)
    lo, hi = float(min(y.min(), pred.min())), float(max(y.max(), pred.max()))
    a1.plot([lo, hi], [lo, hi], color="black", linestyle="--", linewidth=1, label="identity")
    a1.set_xlabel("actual")
    a1.set_ylabel("predicted")
    a1.set_title("Predicted vs actual (test split)")
    a1.legend()
    a2.scatter(pred, y - pred, s=10, alpha=0.6)
    a2.axhline(0, color="black", linewidth=1)
    a2.set_xlabel("predicted")
    a2.set_ylabel("residual")
    a2.set_title("Residuals")
    return [save_png(fig, out / "predicted_vs_actual.png")]


def _tuning(plt: Any, out: Path, trials: list[Any], metric: str) -> list[Path]:
    done = [t for t in trials if t.metric == t.metric]
    if not done:
        return []
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([t.number for t in done], [t.metric for t in done], "o", label="trial")
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title("Tuning: metric per trial")
    files = [save_png(fig, out / "tune_trials.png")]
    names = sorted({k for t in done for k, v in t.params.items() if isinstance(v, (int, float))})
    if names:
        fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3), squeeze=False)
        for ax, name in zip(axes[0], names, strict=True):
            pts = [(t.params[name], t.metric) for t in done if name in t.params]
            ax.scatter([p for p, _ in pts], [m for _, m in pts], s=14)
            ax.set_xlabel(name)
            ax.set_ylabel(metric)
        files.append(save_png(fig, out / "tune_params.png"))
    return files
