"""`prepare` for a table that need not fit in memory (train.external_memory): two streaming passes.

Pass 1 (profile): rows, missing targets, each class's rows per batch, each column's dtype, the levels of
text and declared categorical columns, whether a column is entirely missing. From a small profile table
(the same columns and dtypes, each column's distinct values) the in-memory checks of `mlscale.data` run
unchanged: feature columns, categorical levels, task inference, target encoding.
Pass 2: the valid and test rows (small shares) and a seeded sample of train rows are kept in memory,
the `frequency` encodings' train counts are summed. The train rows stay on disk: `Dataset.stream`.
The split is `mlscale.data.split_rule`'s per-row rule, the one in-memory training uses.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlscale.data import Dataset, FeatureSchema, column_types, file_format, infer_task, resolve_files
from mlscale.data import split_rule as splitting
from mlscale.data.batches import (
    BatchStart,
    TrainStream,
    batch_rows,
    read_batches,
    source_columns,
    split_batch,
)
from mlscale.data.categories import choose
from mlscale.data.categories import codes as category_codes
from mlscale.data.prepare import categorical_levels, encode_target, feature_columns, type_notes
from mlscale.data.split import split_counts
from mlscale.data.target_stats import refuse_streamed
from mlscale.errors import DataError
from mlscale.recipe.schema import Recipe

log = logging.getLogger("mlscale")

MAX_TARGET_VALUES = 10_000  # distinct target values counted; more: a regression target
PARAM_CHECK_ROWS = 1_000  # train rows kept for the parameter check when no reference model runs


@dataclass
class _Profile:
    rows: int = 0
    missing_target: int = 0
    columns: list[str] | None = None
    samples: dict[str, list[pd.Series]] = field(default_factory=dict)  # per column: distinct values seen
    counts: Counter[Any] = field(default_factory=Counter)  # target value -> rows (until too many)
    # file, chunk, rows with a target, target counts
    per_batch: list[tuple[int, int, int, Counter[Any]]] = field(default_factory=list)
    many_targets: bool = False

    def add(self, frame: pd.DataFrame, file: int, chunk: int, target: str, categorical: set[str]) -> None:
        if self.columns is None:
            self.columns = [str(c) for c in frame.columns]
        elif [str(c) for c in frame.columns] != self.columns:
            raise DataError(f"file {file + 1} has different columns than the first")
        self.rows += len(frame)
        y = frame[target] if target in frame.columns else pd.Series(dtype=float)
        missing = int(y.isna().sum())
        self.missing_target += missing
        batch_counts: Counter[Any] = Counter()
        if not self.many_targets:
            batch_counts = Counter(y.dropna().value_counts().to_dict())
            self.counts.update(batch_counts)
            self.many_targets = len(self.counts) > MAX_TARGET_VALUES
        self.per_batch.append((file, chunk, len(frame) - missing, batch_counts))
        for col in frame.columns:
            if col == target and self.many_targets and str(col) in self.samples:
                continue
            s = frame[col]
            distinct = col in categorical or col == target or not _is_number(s)
            kept = s.drop_duplicates() if distinct else s.dropna().head(1)
            self.samples.setdefault(str(col), []).append(kept if len(kept) else s.head(1))

    def table(self) -> pd.DataFrame:
        """One column per source column, its distinct values (cycled to a common length)."""
        columns = {col: pd.concat(parts, ignore_index=True) for col, parts in self.samples.items()}
        columns = {
            col: (s.dropna() if s.notna().any() else s.head(1)).drop_duplicates()
            for col, s in columns.items()
        }
        length = max(len(s) for s in columns.values())
        return pd.DataFrame(
            {col: s.iloc[np.arange(length) % len(s)].reset_index(drop=True) for col, s in columns.items()}
        )


def _is_number(s: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s))


def prepare_streamed(recipe: Recipe, *, source: str) -> Dataset:
    """A Dataset whose train rows stay in the source files; valid and test in memory."""
    cfg = recipe.data
    where = f"{source}: data"
    paths = tuple(resolve_files(str(cfg.path), where=f"{where}.path"))
    fmt = file_format(list(paths), cfg.source)
    profile = _Profile()
    try:
        rows = batch_rows(source_columns(paths[0], fmt))
        for file, chunk, frame in read_batches(paths, fmt, rows):
            profile.add(frame, file, chunk, cfg.target, set(cfg.categorical or []))
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{where}.path: cannot read {cfg.path} as {fmt} ({_first_line(exc)})") from exc
    table = profile.table()
    target = cfg.target
    if target not in table.columns:
        raise DataError(f"{where}.target: column {target!r} not found")
    _check_missing_target(profile, target, cfg.missing_target, where)
    y_raw = table[target].dropna().reset_index(drop=True)
    if y_raw.dtype.kind == "f" and not np.all(np.isfinite(y_raw.to_numpy(dtype=float))):
        raise DataError(f"{where}.target: column {target!r} has infinite values")
    if y_raw.nunique() < 2:
        raise DataError(f"{where}.target: column {target!r} has a single value; a model needs at least two")
    features = feature_columns(table, cfg, where)
    typing = column_types.decide(table, features, cfg.column_types, where, cfg.categorical)
    categories = categorical_levels(table, features, cfg, where, typing)
    task = recipe.task or infer_task(y_raw)[0]
    classes, _ = encode_target(y_raw, task, recipe, where, source)
    stream = _stream(recipe, profile, (paths, fmt, rows), classes, where)
    data = _second_pass(
        recipe, stream, (features, typing), categories, task, classes, where, inferred=recipe.task is None
    )
    data.missing_target_dropped = profile.missing_target
    return data


def _check_missing_target(profile: _Profile, target: str, rule: str, where: str) -> None:
    if profile.missing_target == profile.rows:
        raise DataError(f"{where}.target: column {target!r} is entirely missing")
    if profile.missing_target and rule == "error":
        raise DataError(
            f"{where}.target: column {target!r} has {profile.missing_target} missing value(s); drop or fill "
            "them first, or set data.missing_target: drop"
        )


def _stream(
    recipe: Recipe,
    profile: _Profile,
    read: tuple[tuple[str, ...], str, int],
    classes: list[Any] | None,
    where: str,
) -> TrainStream:
    """The split plan and each batch's class counts before it; `read`: the (paths, format, rows per batch)
    the profile pass read with, which every later pass repeats."""
    paths, fmt, per_batch = read
    split = recipe.data.split
    raw = None if classes is None else _raw_classes(profile.counts, classes)
    n = profile.rows - profile.missing_target
    k = 1 if raw is None else len(raw)
    index = {} if raw is None else {v: i for i, v in enumerate(raw)}
    seen = np.zeros(k, dtype=np.int64)
    starts = []
    for file, chunk, kept, counts in profile.per_batch:
        starts.append(BatchStart(file=file, chunk=chunk, seen=tuple(int(v) for v in seen)))
        if raw is None:
            seen[0] += kept
        else:
            for value, rows in counts.items():
                seen[index[value]] += rows
    plan = None
    if split.column is None:
        n_test, n_valid = split_counts(n, split.test, split.valid, where)
        sizes = [n] if raw is None else [int(profile.counts[v]) for v in raw]
        plan = splitting.plan_split(sizes, n_test=n_test, n_valid=n_valid, seed=split.seed)
    return TrainStream(
        paths=paths,
        fmt=fmt,
        batch_rows=per_batch,
        target=recipe.data.target,
        classes=None if raw is None else tuple(raw),
        split_column=split.column,
        plan=plan,
        batches=tuple(starts),
        n_train=plan.n_train if plan is not None else 0,
    )


def _raw_classes(counts: Counter[Any], classes: list[Any]) -> list[Any]:
    """The raw target values in the order of the class codes (classes are their plain forms)."""
    by_plain = {(v.item() if hasattr(v, "item") else v): v for v in counts}
    return [by_plain[c] for c in classes]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _second_pass(
    recipe: Recipe,
    stream: TrainStream,
    typed: tuple[list[str], column_types.Typing],
    categories: dict[str, list[Any]],
    task: str,
    classes: list[Any] | None,
    where: str,
    *,
    inferred: bool,
) -> Dataset:
    """Valid and test rows, the train sample and the `frequency` counts, in one more read; the text
    columns' vocabularies are fitted on the train sample."""
    cfg = recipe.data
    features, typing = typed
    encodings = {
        col: choose(len(cats), cfg.column_encoding.get(col, cfg.categorical_encoding))
        for col, cats in categories.items()
    }
    refuse_streamed(encodings, recipe, where)
    counted = {
        col: {c: i for i, c in enumerate(categories[col])} for col, e in encodings.items() if e == "frequency"
    }
    sample_size = (
        recipe.evaluate.reference_max_rows if recipe.evaluate.reference == "auto" else PARAM_CHECK_ROWS
    )
    picked = _sample_rows(stream.n_train, sample_size, recipe.train.seed) if stream.plan is not None else None
    fitted = sorted(typing.of("datetime") | typing.of("text"))
    kept, labels, level_rows, n_train, first = _read_splits(stream, counted, picked, sample_size, fitted)
    if stream.plan is None:
        stream = _with_train_rows(stream, n_train)
    frequencies = {col: (level_rows[col] / max(n_train, 1)).round(8).tolist() for col in counted}
    frames = {part: pd.concat(parts, ignore_index=True) for part, parts in kept.items()}
    schema = FeatureSchema(
        target=cfg.target,
        task=task,
        features=features,
        categories=categories,
        classes=classes,
        encodings=encodings,
        frequencies=frequencies,
        derived=column_types.fit(first, typing, features),
    )
    ys = {part: np.concatenate(parts) for part, parts in labels.items()}
    if len(ys[splitting.VALID]) < 1 or n_train < 2:
        raise DataError(f"{where}.split: needs at least two train rows and one valid row")
    x = {part: schema.frame(frame, where=where)[0] for part, frame in frames.items()}
    notes = ["train.external_memory: train rows read in batches from the source files", *type_notes(schema)]
    return Dataset(
        schema=schema,
        x_train=x[splitting.TRAIN],
        y_train=ys[splitting.TRAIN],
        x_valid=x[splitting.VALID],
        y_valid=ys[splitting.VALID],
        x_test=x[splitting.TEST],
        y_test=ys[splitting.TEST],
        test_frame=frames[splitting.TEST],
        task_inferred=inferred,
        notes=notes,
        raw_sample=frames[splitting.VALID][features].head(5).reset_index(drop=True),
        stream=stream,
    )


def _read_splits(
    stream: TrainStream,
    counted: dict[str, dict[str, int]],
    picked: np.ndarray | None,
    sample_size: int,
    fitted: list[str],
) -> tuple[
    dict[int, list[pd.DataFrame]], dict[int, list[np.ndarray]], dict[str, np.ndarray], int, pd.DataFrame
]:
    """(rows and labels per split: valid and test whole, train only the sampled rows; per `frequency`
    column the train rows of each level; the number of train rows; the `fitted` columns of the first
    `column_types.FIT_ROWS` train rows, which the datetime and text transforms are fitted on)."""
    first: list[pd.DataFrame] = []
    level_rows = {col: np.zeros(len(index), np.int64) for col, index in counted.items()}
    kept: dict[int, list[pd.DataFrame]] = {splitting.VALID: [], splitting.TEST: [], splitting.TRAIN: []}
    labels: dict[int, list[np.ndarray]] = {k: [] for k in kept}
    n_train = 0
    for k, (_, _, frame) in enumerate(read_batches(stream.paths, stream.fmt, stream.batch_rows)):
        rows, y, which = split_batch(stream, stream.batches[k], frame)
        train = which == splitting.TRAIN
        for col, index in counted.items():
            codes = category_codes(rows[col][train], index)
            level_rows[col] += np.bincount(codes[codes >= 0], minlength=len(index))
        positions = n_train + np.arange(int(train.sum()))
        take = np.isin(positions, picked) if picked is not None else positions < sample_size
        for part in (splitting.VALID, splitting.TEST):
            kept[part].append(rows[which == part])
            labels[part].append(y[which == part])
        kept[splitting.TRAIN].append(rows[train][take])
        labels[splitting.TRAIN].append(y[train][take])
        first.append(rows[train][fitted].iloc[: max(0, column_types.FIT_ROWS - n_train)])
        n_train += int(train.sum())
    return kept, labels, level_rows, n_train, pd.concat(first, ignore_index=True) if first else rows.iloc[:0]


def _sample_rows(n_train: int, size: int, seed: int) -> np.ndarray | None:
    """The train rows (by number) the reference model sees: those `fit_reference` draws from the whole
    train split in memory; None when all of them fit."""
    if n_train <= size:
        return None
    return np.sort(np.random.default_rng(seed).choice(n_train, size=size, replace=False))


def _with_train_rows(stream: TrainStream, n_train: int) -> TrainStream:
    from dataclasses import replace

    return replace(stream, n_train=n_train)


def prepare_for_training(recipe: Recipe, *, source: str) -> Dataset:
    """`prepare`, or `prepare_streamed` when train.external_memory is on (or auto and the estimate says so)."""
    from mlscale.data import describe_source, prepare
    from mlscale.data.memory_plan import for_recipe, needs_estimate

    if not needs_estimate(recipe):  # no source description needed (for sklearn: no second load)
        return prepare(recipe, source=source)
    decision = for_recipe(recipe, describe_source(recipe.data, source=source), source=source)
    log.log(logging.INFO if decision.on else logging.DEBUG, "memory: %s", decision.describe())
    return prepare_streamed(recipe, source=source) if decision.on else prepare(recipe, source=source)
