"""Train / valid / test: from a split column, or a seeded (stratified when possible) shuffle."""

from __future__ import annotations

import numpy as np
import pandas as pd

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
    idx = np.arange(n)
    stratify = y if task != "regression" else None
    n_test, n_valid = round(n * split.test), max(1, round(n * split.valid))  # counts, not float shares
    if n - n_test - n_valid < 2:
        raise DataError(f"{where}.split: too few rows ({n}) for the requested split")
    rest, test = (idx, idx[:0]) if n_test == 0 else _tts(idx, n_test, split.seed, stratify)
    train, valid = _tts(rest, n_valid, split.seed, None if stratify is None else y[rest])
    if len(train) < 2 or len(valid) < 1:
        raise DataError(f"{where}.split: too few rows ({n}) for the requested split")
    return train, valid, test


def _tts(
    idx: np.ndarray, share: float, seed: int, stratify: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    try:
        a, b = train_test_split(idx, test_size=share, random_state=seed, stratify=stratify)
    except ValueError:  # a class too rare to stratify: fall back to a plain shuffled split
        a, b = train_test_split(idx, test_size=share, random_state=seed)
    return np.sort(a), np.sort(b)
