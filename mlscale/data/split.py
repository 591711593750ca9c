"""Train / valid / test: from a split column, or the seeded per-row rule of `mlscale.data.split_rule` (stratified
by class), which streamed training computes batch by batch with the same result."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlscale.data import split_rule as splitting
from mlscale.errors import DataError
from mlscale.recipe.schema import Recipe


def split_indices(
    table: pd.DataFrame, y: np.ndarray, task: str, recipe: Recipe, where: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    split = recipe.data.split
    n = len(table)
    if split.column:
        labels = table[split.column].astype(str).str.lower()
        bad = sorted(set(labels.unique()) - {"train", "valid", "test"})
        if bad:
            raise DataError(f"{where}.split.column: values must be train, valid or test, got {bad[0]!r}")
        train, valid, test = (
            np.flatnonzero(labels.to_numpy() == name) for name in ("train", "valid", "test")
        )
        if len(train) == 0 or len(valid) == 0:
            raise DataError(f"{where}.split.column: needs at least one train and one valid row")
        return train, valid, test
    n_test, n_valid = split_counts(n, split.test, split.valid, where)
    codes = np.zeros(n, dtype=np.int64) if task == "regression" else np.asarray(y, dtype=np.int64)
    sizes = np.bincount(codes, minlength=1)
    plan = splitting.plan_split(sizes.tolist(), n_test=n_test, n_valid=n_valid, seed=split.seed)
    rank, _ = splitting.ranks(codes, np.zeros(len(sizes), dtype=np.int64))
    which = splitting.assign(plan, codes, rank)
    train, valid, test = (
        np.flatnonzero(which == k) for k in (splitting.TRAIN, splitting.VALID, splitting.TEST)
    )
    if len(train) < 2 or len(valid) < 1:
        raise DataError(f"{where}.split: too few rows ({n}) for the requested split")
    return train, valid, test


def split_counts(n: int, test: float, valid: float, where: str) -> tuple[int, int]:
    """(test rows, valid rows) of `n` rows: counts, not float shares."""
    n_test, n_valid = round(n * test), max(1, round(n * valid))
    if n - n_test - n_valid < 2:
        raise DataError(f"{where}.split: too few rows ({n}) for the requested split")
    return n_test, n_valid
