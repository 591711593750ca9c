"""SHAP plots (PNG, matplotlib, no `shap` package): mean |SHAP| bars, a beeswarm-style summary, and a
dependence plot per top feature; categorical features show their categories' text. Data:
`mlscale.assess.explanations.Explanation`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlscale.report.plots import figures, save_png

MAX_SHOWN = 15  # features in the summary plots
MAX_POINTS = 2_000  # points per feature in the beeswarm and the dependence plots
MAX_CATEGORIES = 20  # categories shown in a categorical dependence plot (the most frequent)

Captioned = list[tuple[Path, str]]


def explanation_plots(exp: Any, out: Path, *, top: int = 3) -> Captioned:
    """Bars, beeswarm and `top` dependence plots of an `Explanation`; (file, caption) pairs."""
    out.mkdir(parents=True, exist_ok=True)
    if not len(exp.values):
        return []
    index = {f: i for i, f in enumerate(exp.features)}
    shown = exp.ranking[:MAX_SHOWN][::-1]
    fig, ax = figures().subplots(figsize=(6, max(2.5, 0.32 * len(shown) + 1)))
    ax.barh([e.feature for e in shown], [e.mean_abs for e in shown], color="#4c72b0")
    ax.set_xlabel(f"mean |SHAP| ({exp.output})")
    ax.set_title("Feature impact (mean |SHAP|)")
    files = [
        (save_png(fig, out / "shap_importance.png"), f"Mean |SHAP| per feature, toward the {exp.output}")
    ]
    files.append(_beeswarm(exp, shown, index, out))
    for rank, effect in enumerate(exp.ranking[:top], start=1):
        files.append(_dependence(exp, effect, index[effect.feature], rank, out))
    return files


def _sample(n: int) -> np.ndarray:
    return (
        np.arange(n)
        if n <= MAX_POINTS
        else np.sort(np.random.default_rng(0).choice(n, MAX_POINTS, replace=False))
    )


def swarm_offsets(values: np.ndarray, width: float = 0.4, bins: int = 60) -> np.ndarray:
    """Vertical offsets that spread points with similar values apart, alternating above and below."""
    if len(values) == 0:
        return np.zeros(0)
    lo, hi = float(values.min()), float(values.max())
    which = np.floor((values - lo) / ((hi - lo) or 1.0) * (bins - 1)).astype(int)
    order = np.argsort(which, kind="stable")
    _, starts, counts = np.unique(which[order], return_index=True, return_counts=True)
    rank = np.arange(len(values)) - np.repeat(starts, counts)
    side = np.where(rank % 2 == 0, rank / 2, -(rank + 1) / 2)
    offsets = np.zeros(len(values))
    offsets[order] = side / max(counts.max() / 2, 1) * width
    return offsets


def _colour_scale(values: np.ndarray) -> np.ndarray:
    """Each value's rank within its feature (0: lowest, 1: highest); NaN for missing or text values."""
    numeric = np.asarray(values, dtype=np.float64) if values.dtype != object else np.full(len(values), np.nan)
    out = np.full(len(numeric), np.nan)
    ok = ~np.isnan(numeric)
    if ok.sum() > 1:
        ranks = numeric[ok].argsort(kind="stable").argsort(kind="stable")
        out[ok] = ranks / (ok.sum() - 1)
    return out


def _beeswarm(exp: Any, shown: list[Any], index: dict[str, int], out: Path) -> tuple[Path, str]:
    rows = _sample(len(exp.values))
    fig, ax = figures().subplots(figsize=(7.5, max(2.5, 0.4 * len(shown) + 1)))
    scatter = None
    for y, effect in enumerate(shown):
        i = index[effect.feature]
        v = exp.values[rows, i]
        colour = _colour_scale(exp.shown[effect.feature][rows])
        dy = swarm_offsets(v)
        missing = np.isnan(colour)
        ax.scatter(v[missing], y + dy[missing], s=6, color="#999999", alpha=0.6)
        scatter = ax.scatter(
            v[~missing], y + dy[~missing], s=6, c=colour[~missing], cmap="coolwarm", vmin=0, vmax=1
        )
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(shown)), [e.feature + (" (cat.)" if e.categorical else "") for e in shown])
    ax.set_xlabel(f"SHAP value ({exp.output})")
    ax.set_title("SHAP summary (colour: feature value, low blue to high red; grey: category or missing)")
    ax.title.set_fontsize(9)
    if scatter is not None:
        bar = fig.colorbar(scatter, ax=ax, ticks=[0, 1])
        bar.ax.set_yticklabels(["low", "high"])
    return save_png(fig, out / "shap_summary.png"), "SHAP summary: each dot is one explained row"


def _dependence(exp: Any, effect: Any, i: int, rank: int, out: Path) -> tuple[Path, str]:
    rows = _sample(len(exp.values))
    v = exp.values[rows, i]
    raw = exp.shown[effect.feature][rows]
    fig, ax = figures().subplots(figsize=(6, 4))
    if effect.categorical:
        text = np.array(["(missing)" if c is None else str(c) for c in raw], dtype=object)
        names, counts = np.unique(text, return_counts=True)
        kept = [str(n) for n in names[np.argsort(-counts, kind="stable")][:MAX_CATEGORIES]]
        kept.sort(key=lambda n: float(np.mean(v[text == n])))
        jitter = np.random.default_rng(0).uniform(-0.25, 0.25, len(v))
        for pos, name in enumerate(kept):
            mask = text == name
            ax.scatter(pos + jitter[mask], v[mask], s=8, alpha=0.5, color="#4c72b0")
            ax.plot([pos - 0.3, pos + 0.3], [np.mean(v[mask])] * 2, color="#c44e52", linewidth=2)
        ax.set_xticks(range(len(kept)), [n[:20] for n in kept], rotation=45, ha="right")
        more = len(names) - len(kept)
        ax.set_xlabel(
            effect.feature + (f" ({len(kept)} most frequent categories of {len(names)})" if more > 0 else "")
        )
    else:
        x = np.asarray(raw, dtype=np.float64)
        ax.scatter(x, v, s=8, alpha=0.5, color="#4c72b0")
        ax.set_xlabel(effect.feature)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel(f"SHAP value ({exp.output})")
    ax.set_title(f"Dependence: {effect.feature}")
    caption = f"SHAP dependence of {effect.feature} (rank {rank} by mean |SHAP|)"
    return save_png(fig, out / f"shap_dependence_{rank}.png"), caption
