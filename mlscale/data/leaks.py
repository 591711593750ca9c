"""Leak suspects: feature columns that alone predict the target almost perfectly on the train split.

A column computed from the outcome (a revenue that is zero once a customer churned, a delay in minutes
beside "arrived late") makes a model look excellent and fail in use; nothing in the scores shows it,
since the test split holds the same column. So every run, and `mlscale init`, checks each feature on
its own, on at most `MAX_ROWS` sampled train rows (seeded), and names the columns that score above
`THRESHOLD`:

- The column is cut into at most `MAX_BINS` bins: each distinct value while there are few, else
  quantile bins of a numeric column; a categorical column's levels, each its own bin; missing, one bin.
- The sampled rows are halved at random; each half is predicted from the other half's bins (its target
  mean, or class shares; an empty bin predicts the other half's overall mean), so that a column with a
  distinct value per row (an id) predicts nothing, as it would on new rows.
- The score of those out-of-fold predictions: classification, the AUC (multiclass: each class against
  the rest, weighted by its share); regression, R² of the target's ranks (rank-based, so that one
  heavy-tailed bin does not hide a column that orders the target perfectly; a perfect monotone column
  scores 1 - 1/MAX_BINS², 0.9998).

Threshold (`THRESHOLD`, 0.99 for both scores): a column derived from the target scores 0.995 to 1,
while the best single feature of every shipped recipe and quality-suite table (measured with
`leak_scores` on the train split) stays below 0.94: breast_cancer 0.925 (worst radius), wine 0.783,
diabetes 0.168, synthetic_higgs 0.654; quality suite: diamonds_price 0.938 (carat), diamonds_cut 0.757,
mpls_stops 0.743, flights_late 0.642, fertility 0.553, loans_rate 0.116, movielens_rating 0.045,
flights_delay 0.029 (iris, not shipped: petal width 0.953). The leak columns the suite's recipes exclude
score above it: flights_late's arr_delay 1.000, loans_rate's sub_grade 0.996.
Fewer than `MIN_ROWS` sampled rows, or a binary target with fewer than `MIN_MINORITY` rows of a class,
are not checked: there a perfect score by chance is plausible.

Cost: sampling and a few bincounts per column; on a 100k-row table with 30 numeric and 3 categorical
features, 0.05 s (one core), for any of the three tasks. Only numpy and pandas: `mlscale init` uses it too.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

MAX_ROWS = 10_000
MAX_BINS = 64
THRESHOLD = 0.99
MIN_ROWS = 100
MIN_MINORITY = 10


@dataclass(frozen=True)
class LeakSuspect:
    """A feature that alone predicts the target with `score` (its `measure`) on the train split."""

    column: str
    score: float
    measure: str  # "AUC" | "rank R²"

    @property
    def short(self) -> str:
        """'revenue (AUC 0.998)': the run's data.leak_suspects tag lists these."""
        return f"{self.column} ({self.measure} {self.score:.3f})"

    def warning(self, target: str) -> str:
        return (
            f"data: feature {self.column!r} alone predicts {target!r} (train {self.measure} "
            f"{self.score:.3f}): a leak? leave it out with data.exclude"
        )


def leak_suspects(scores: Mapping[str, float], task: str) -> list[LeakSuspect]:
    """The columns of `leak_scores`' result at or above `THRESHOLD`, best first."""
    measure = "rank R²" if task == "regression" else "AUC"
    found = [LeakSuspect(col, s, measure) for col, s in scores.items() if s >= THRESHOLD]
    return sorted(found, key=lambda s: -s.score)


def leak_scores(
    x: pd.DataFrame,
    y: np.ndarray | pd.Series,
    task: str,
    *,
    levels: Collection[str] = (),
    seed: int = 0,
) -> dict[str, float]:
    """Each feature's score at predicting `y` alone (see the module's docstring); {} where the sample is too
    small. `y`: class codes (or any labels) for binary / multiclass, numbers for regression; `levels`:
    columns whose values are categories (text and pandas categorical columns are, always)."""
    y_all = pd.Series(np.asarray(y)).reset_index(drop=True)
    keep = np.flatnonzero(y_all.notna().to_numpy())
    rng = np.random.default_rng(seed)
    if len(keep) > MAX_ROWS:
        keep = np.sort(rng.choice(keep, MAX_ROWS, replace=False))
    if len(keep) < MIN_ROWS:
        return {}
    target = _target(y_all.iloc[keep], task)
    if target is None:
        return {}
    fold = rng.permutation(len(keep)) % 2
    frame = x.iloc[keep]
    return {str(col): _score(_bins(frame[col], str(col) in levels), fold, target, task) for col in x.columns}


def _target(y: pd.Series, task: str) -> np.ndarray | None:
    """Regression: the ranks of y scaled to 0..1; classification: class codes (None: a class too rare)."""
    if task == "regression":
        ranks = y.astype(np.float64).rank(method="average").to_numpy()
        return (ranks - 1) / max(len(ranks) - 1, 1)
    codes, _ = pd.factorize(y)
    counts = np.bincount(codes)
    if len(counts) < 2 or (len(counts) == 2 and counts.min() < MIN_MINORITY):
        return None
    return codes.astype(np.int64)


def _bins(s: pd.Series, as_levels: bool) -> np.ndarray:
    """Bin numbers 0..; missing values get a bin of their own."""
    numeric = pd.api.types.is_numeric_dtype(s) and not isinstance(s.dtype, pd.CategoricalDtype)
    if as_levels or not numeric:
        codes, _ = pd.factorize(s, use_na_sentinel=True)
        return np.where(codes < 0, codes.max(initial=-1) + 1, codes).astype(np.int64)
    values = s.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(values)
    distinct = np.unique(values[finite])
    if len(distinct) <= MAX_BINS:
        edges = distinct[1:]
    else:
        edges = np.unique(np.quantile(values[finite], np.linspace(0, 1, MAX_BINS + 1)[1:-1]))
    out = np.searchsorted(edges, values, side="right")
    return np.where(finite, out, len(edges) + 1).astype(np.int64)


def _score(bins: np.ndarray, fold: np.ndarray, target: np.ndarray, task: str) -> float:
    """The out-of-fold score of predicting the target from `bins` alone."""
    n_bins = int(bins.max()) + 1
    cell = fold * n_bins + bins  # (fold, bin) groups
    if task == "regression":
        return _rank_r2(cell, n_bins, target)
    return _auc(cell, n_bins, target)


def _rank_r2(cell: np.ndarray, n_bins: int, r: np.ndarray) -> float:
    count = np.bincount(cell, minlength=2 * n_bins).reshape(2, n_bins)
    total = np.bincount(cell, weights=r, minlength=2 * n_bins).reshape(2, n_bins)
    squares = np.bincount(cell, weights=r * r, minlength=2 * n_bins).reshape(2, n_bins)
    fold_mean = total.sum(axis=1) / np.maximum(count.sum(axis=1), 1)
    # each half predicted from the other half's bin means
    other = count[::-1]
    pred = np.where(other > 0, total[::-1] / np.maximum(other, 1), fold_mean[::-1, None])
    sse = float((squares - 2 * pred * total + count * pred * pred).sum())
    sst = float(((r - r.mean()) ** 2).sum())
    return min(1.0, 1.0 - sse / sst) if sst > 0 else 0.0


def _auc(cell: np.ndarray, n_bins: int, codes: np.ndarray) -> float:
    k = int(codes.max()) + 1
    counts = np.bincount(cell * k + codes, minlength=2 * n_bins * k).reshape(2, n_bins, k).astype(float)
    rows = counts.sum(axis=2, keepdims=True)
    prior = counts.sum(axis=1, keepdims=True) / np.maximum(rows.sum(axis=1, keepdims=True), 1)
    other, other_rows = counts[::-1], rows[::-1]
    shares = np.where(other_rows > 0, other / np.maximum(other_rows, 1), prior[::-1])
    classes = range(1, 2) if k == 2 else range(k)  # binary: one AUC (class 1 against class 0)
    weights = counts.sum(axis=(0, 1))
    aucs = [_grouped_auc(shares[..., c].ravel(), counts[..., c].ravel(), rows.ravel()) for c in classes]
    if k == 2:
        return aucs[0]
    return float(np.dot(aucs, weights) / weights.sum())


def _grouped_auc(score: np.ndarray, pos: np.ndarray, rows: np.ndarray) -> float:
    """The AUC of groups of rows sharing one score each: `pos` positives among `rows` (ties count half)."""
    neg = rows - pos
    n_pos, n_neg = pos.sum(), neg.sum()
    if n_pos == 0 or n_neg == 0:
        return 0.5
    uniq, inverse = np.unique(score, return_inverse=True)
    pos_at = np.bincount(inverse, weights=pos, minlength=len(uniq))
    neg_at = np.bincount(inverse, weights=neg, minlength=len(uniq))
    neg_below = np.cumsum(neg_at) - neg_at
    return float((pos_at * (neg_below + 0.5 * neg_at)).sum() / (n_pos * n_neg))
