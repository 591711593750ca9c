"""Prepare: check, type and split the table a recipe describes into the `Dataset` every engine receives.

Messages name the recipe file and the field: "recipes/x.yaml: data.target: column 'y' not found ...".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from mlscale.data import column_types
from mlscale.data.batches import TrainStream
from mlscale.data.categories import choose, levels, shares
from mlscale.data.categories import codes as category_codes
from mlscale.data.files import SourceFiles
from mlscale.data.leaks import LeakSuspect
from mlscale.data.numeric import is_numeric_target, is_text_column
from mlscale.data.schema import FeatureSchema
from mlscale.data.sources import load_with_files
from mlscale.data.split import split_indices
from mlscale.data.target_stats import fit_columns, with_out_of_fold
from mlscale.errors import DataError
from mlscale.recipe.schema import DataConfig, Recipe
from mlscale.util.text import did_you_mean, plain, short_list

log = logging.getLogger("mlscale")

MAX_MULTICLASS = 50
XGB_BAD_NAME_CHARS = "[]<"  # xgboost refuses feature names holding these


@dataclass
class Dataset:
    """A split, typed table. y is encoded: class codes 0..K-1, or floats for regression."""

    schema: FeatureSchema
    x_train: pd.DataFrame
    y_train: np.ndarray
    x_valid: pd.DataFrame
    y_valid: np.ndarray
    x_test: pd.DataFrame
    y_test: np.ndarray
    test_frame: pd.DataFrame  # raw test rows (features, target, any other column): predict's default input
    task_inferred: bool = False
    notes: list[str] = field(default_factory=list)
    files: SourceFiles | None = None  # set for csv/parquet sources: a cluster can read its shards itself
    missing_target_dropped: int = 0  # rows left out because their target was missing
    # each split's rows as positions in the table as loaded (before rows without a target were dropped)
    split_rows: dict[str, np.ndarray] = field(default_factory=dict)
    raw_sample: pd.DataFrame | None = None  # a few raw feature rows, as a served model receives them
    # train.external_memory: the train rows are read batch by batch from here, and x_train / y_train hold
    # only a sample of them (the reference model's rows, and the parameter check's)
    stream: TrainStream | None = None
    # features that alone predict the target almost perfectly (`mlscale.data.leaks`), set by the run
    leak_suspects: list[LeakSuspect] = field(default_factory=list)

    @property
    def n_train(self) -> int:
        return len(self.x_train) if self.stream is None else self.stream.n_train

    @property
    def n_rows(self) -> int:
        return self.n_train + len(self.x_valid) + len(self.x_test)

    @property
    def num_class(self) -> int:
        return len(self.schema.classes or [])


def infer_task(y: pd.Series) -> tuple[str, str]:
    """(task, reason). Text / bool / two values -> classification; many floats -> regression."""
    n = int(y.nunique(dropna=True))
    if n == 2:
        return "binary", "target has 2 distinct values"
    if not is_numeric_target(y):
        return "multiclass", f"target is text with {n} classes"
    integral = bool(np.all(np.mod(y.dropna().to_numpy(dtype=float), 1) == 0))
    if integral and n <= 20:
        return "multiclass", f"target has {n} integer values"
    return "regression", f"target is numeric with {n} distinct values"


def prepare(recipe: Recipe, table: pd.DataFrame | None = None, *, source: str = "<recipe>") -> Dataset:
    """Load (unless given), check, type and split the data a recipe describes."""
    cfg = recipe.data
    files: SourceFiles | None = None
    if table is None:
        table, files = load_with_files(cfg, source)
    where = f"{source}: data"
    target = cfg.target
    if target not in table.columns:
        hint = did_you_mean(target, table.columns)
        raise DataError(
            f"{where}.target: column {target!r} not found{hint}; columns: {short_list(table.columns)}"
        )
    table, kept, dropped = _drop_missing_target(table, target, cfg.missing_target, where)
    y_raw = table[target]
    if y_raw.dtype.kind == "f" and not np.all(np.isfinite(y_raw.to_numpy(dtype=float))):
        raise DataError(f"{where}.target: column {target!r} has infinite values")
    if y_raw.nunique() < 2:
        raise DataError(
            f"{where}.target: column {target!r} has a single value ({plain(y_raw.iloc[0])!r}); "
            "a model needs at least two"
        )
    features = feature_columns(table, cfg, where)
    _check_slices(recipe, table, source)
    typing = column_types.decide(table, features, cfg.column_types, where, cfg.categorical)
    categories = categorical_levels(table, features, cfg, where, typing)

    task_note = None
    if recipe.task is None:
        task, reason = infer_task(y_raw)
        task_note = f"task inferred: {task} ({reason})"
        log.info(task_note)
    else:
        task = recipe.task
    classes, y_all = encode_target(y_raw, task, recipe, where, source)
    idx_train, idx_valid, idx_test = split_indices(table, y_all, task, recipe, where)
    encodings, frequencies = _encodings(table, categories, cfg, idx_train, where, task)
    train_rows = table.iloc[np.asarray(idx_train)]
    fitted = fit_columns(train_rows, categories, encodings, y_all[idx_train], task, recipe, where)
    schema = FeatureSchema(
        target=target,
        task=task,
        features=features,
        categories=categories,
        classes=classes,
        encodings=encodings,
        frequencies=frequencies,
        target_stats={col: f.stored for col, f in fitted.items()},
        derived=column_types.fit(train_rows, typing, features),
    )
    x_all, _ = schema.frame(table, where=where)
    take = np.asarray
    notes = [task_note] if task_note else []
    notes += type_notes(schema)
    return Dataset(
        schema=schema,
        x_train=with_out_of_fold(x_all.iloc[take(idx_train)].reset_index(drop=True), fitted),
        y_train=y_all[idx_train],
        x_valid=x_all.iloc[take(idx_valid)].reset_index(drop=True),
        y_valid=y_all[idx_valid],
        x_test=x_all.iloc[take(idx_test)].reset_index(drop=True),
        y_test=y_all[idx_test],
        test_frame=table.iloc[take(idx_test)].reset_index(drop=True),
        task_inferred=recipe.task is None,
        notes=notes,
        files=None
        if files is None
        # out-of-fold values exist only here: workers get the driver's train rows rather than read them
        else replace(
            files, train_rows=np.zeros(0, np.int64) if fitted else kept[np.asarray(idx_train, np.int64)]
        ),
        missing_target_dropped=dropped,
        split_rows={
            name: kept[np.asarray(idx, dtype=np.int64)]
            for name, idx in (("train", idx_train), ("valid", idx_valid), ("test", idx_test))
        },
        raw_sample=table[features].head(5).reset_index(drop=True),
    )


def describe_encodings(schema: FeatureSchema) -> str:
    """'tailnum ordinal (4043 levels), carrier native (16 levels)': printed and logged with every run."""
    return ", ".join(
        f"{col} {schema.encoding(col)} ({len(cats)} levels)" for col, cats in schema.categories.items()
    )


def type_notes(schema: FeatureSchema) -> list[str]:
    """The lines printed with every run about the features' types and encodings."""
    notes = ["categorical encoding: " + describe_encodings(schema)] if schema.categories else []
    if schema.derived:
        notes.append("column types: " + column_types.describe(schema.derived))
    return notes


def encoding_table(schema: FeatureSchema) -> list[dict[str, Any]]:
    """Per categorical column: its encoding and level count; per datetime or text column: its type and
    model-input columns (logged as encoding.json)."""
    return [
        {"column": col, "encoding": schema.encoding(col), "levels": len(cats)}
        for col, cats in schema.categories.items()
    ] + [column_types.summary(col, spec) for col, spec in schema.derived.items()]


def _drop_missing_target(
    table: pd.DataFrame, target: str, rule: str, where: str
) -> tuple[pd.DataFrame, np.ndarray, int]:
    """(table without missing-target rows, the kept rows' positions in the source, rows dropped)."""
    missing = table[target].isna().to_numpy()
    n_missing = int(missing.sum())
    if n_missing == len(table):
        raise DataError(f"{where}.target: column {target!r} is entirely missing")
    if n_missing and rule == "error":
        raise DataError(
            f"{where}.target: column {target!r} has {n_missing} missing value(s); drop or fill them first, "
            "or set data.missing_target: drop"
        )
    kept = np.flatnonzero(~missing).astype(np.int64)
    if n_missing:
        table = table.iloc[kept].reset_index(drop=True)
    return table, kept, n_missing


def feature_columns(table: pd.DataFrame, cfg: DataConfig, where: str) -> list[str]:
    target, split_col = cfg.target, cfg.split.column
    if split_col and split_col not in table.columns:
        raise DataError(
            f"{where}.split.column: column {split_col!r} not found{did_you_mean(split_col, table.columns)}"
        )
    for col in cfg.exclude:
        if col not in table.columns:
            raise DataError(f"{where}.exclude: column {col!r} not found{did_you_mean(col, table.columns)}")
    reserved = {target, *cfg.exclude} | ({split_col} if split_col else set())
    if cfg.features is not None:
        unknown = [c for c in cfg.features if c not in table.columns]
        if unknown:
            hint = did_you_mean(unknown[0], table.columns)
            raise DataError(f"{where}.features: column {unknown[0]!r} not found{hint}")
        if target in cfg.features:
            raise DataError(f"{where}.features: the target {target!r} cannot be a feature")
        features = [c for c in cfg.features if c not in cfg.exclude]
    else:
        features = [str(c) for c in table.columns if c not in reserved]
    if not features:
        raise DataError(f"{where}.features: no feature columns left besides the target")
    for col in features:
        bad = next((ch for ch in col if ch in XGB_BAD_NAME_CHARS), None)
        if bad is not None:
            raise DataError(
                f"{where}.features: column {col!r} has {bad!r} in its name, which xgboost does not accept; "
                "rename it, or leave it out with data.exclude"
            )
    return features


def categorical_levels(
    table: pd.DataFrame,
    features: list[str],
    cfg: DataConfig,
    where: str,
    typing: column_types.Typing | None = None,
) -> dict[str, list[Any]]:
    typing = typing or column_types.Typing()
    typed_apart = typing.of("datetime") | typing.of("text") | typing.of("numeric")
    declared = set(cfg.categorical or []) | typing.of("categorical")
    for c in cfg.categorical or []:
        if c not in features:
            raise DataError(f"{where}.categorical: column {c!r} is not a feature")
    categories: dict[str, list[Any]] = {}
    for col in features:
        s = table[col]
        if s.isna().all():
            raise DataError(f"{where}.features: column {col!r} is entirely missing")
        if col in typed_apart:
            continue
        is_text = is_text_column(s)
        if col in declared or (cfg.categorical is None and is_text):
            categories[col] = levels(s)
        elif is_text:
            raise DataError(f"{where}.categorical: column {col!r} is text; list it in data.categorical")
    for col in cfg.column_encoding:
        if col not in categories:
            raise DataError(
                f"{where}.column_encoding: column {col!r} is not a categorical feature"
                f"{did_you_mean(col, list(categories))}"
            )
    return categories


def _encodings(
    table: pd.DataFrame,
    categories: dict[str, list[Any]],
    cfg: DataConfig,
    idx_train: np.ndarray,
    where: str,
    task: str,
) -> tuple[dict[str, str], dict[str, list[float]]]:
    """Each categorical column's encoding, and the train shares of each level for `frequency`."""
    encodings: dict[str, str] = {}
    frequencies: dict[str, list[float]] = {}
    for col, cats in categories.items():
        declared = cfg.column_encoding.get(col, cfg.categorical_encoding)
        encodings[col] = choose(len(cats), declared, task=task, n_train=len(idx_train))
        if encodings[col] == "frequency":
            index = {c: i for i, c in enumerate(cats)}
            train_codes = category_codes(table[col].iloc[np.asarray(idx_train)], index)
            frequencies[col] = shares(train_codes, len(cats))
    return encodings, frequencies


def encode_target(
    y_raw: pd.Series, task: str, recipe: Recipe, where: str, source: str
) -> tuple[list[Any] | None, np.ndarray]:
    """(class labels, or None for regression; y as class codes 0..K-1 or floats)."""
    target = recipe.data.target
    if task == "regression":
        if not is_numeric_target(y_raw):
            raise DataError(f"{where}.target: task regression needs a numeric target, got {y_raw.dtype}")
        return None, y_raw.to_numpy(dtype=np.float64)
    uniq = sorted(pd.unique(y_raw).tolist(), key=lambda v: (str(type(v)), v))
    if task == "binary" and len(uniq) != 2:
        raise DataError(f"{where}.target: task binary needs 2 classes, column {target!r} has {len(uniq)}")
    if task == "multiclass" and len(uniq) > MAX_MULTICLASS:
        raise DataError(
            f"{where}.target: task multiclass allows at most {MAX_MULTICLASS} classes, got {len(uniq)}"
        )
    classes = [plain(v) for v in uniq]
    codes = {v: i for i, v in enumerate(uniq)}
    y_all = y_raw.map(codes).to_numpy(dtype=np.int32)
    if task == "multiclass" and recipe.train.params.get("num_class") not in (None, len(classes)):
        raise DataError(
            f"{source}: train.params.num_class is {recipe.train.params['num_class']}, "
            f"but the target has {len(classes)} classes"
        )
    return classes, y_all


def _check_slices(recipe: Recipe, table: pd.DataFrame, source: str) -> None:
    """evaluate.slices may name any column of the data, feature or not, but one that exists."""
    for col in recipe.evaluate.slices:
        if col not in table.columns:
            raise DataError(
                f"{source}: evaluate.slices: column {col!r} not found{did_you_mean(col, table.columns)}; "
                f"columns: {short_list(table.columns)}"
            )
