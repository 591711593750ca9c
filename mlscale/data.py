"""Data: sources (csv / parquet / sklearn / synthetic), checks, task inference, categoricals, split.

Everything here is engine-agnostic; both engines receive the same `Dataset`.
Messages name the recipe file and the field: "recipes/x.yaml: data.target: column 'y' not found ...".
"""

from __future__ import annotations

import glob
import importlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlscale import splitting
from mlscale.categories import choose, levels, shares
from mlscale.categories import codes as category_codes
from mlscale.categories import encode as encode_column
from mlscale.errors import DataError, RecipeError
from mlscale.recipe.schema import DataConfig, Recipe
from mlscale.streaming import TrainStream

log = logging.getLogger("mlscale")

MAX_MULTICLASS = 50
CSV_SUFFIXES = (
    ".csv",
    ".csv.gz",
    ".csv.bz2",
    ".csv.zip",
    ".csv.xz",
    ".csv.zst",
)  # pandas and arrow decompress
PARQUET_SUFFIXES = (".parquet", ".pq")
XGB_BAD_NAME_CHARS = "[]<"
FLOAT32_MAX = float(np.finfo(np.float32).max)  # xgboost refuses feature names holding these


@dataclass(frozen=True)
class FeatureSchema:
    """What a model needs to turn a raw table into model input, saved beside every model.

    `categories` holds each categorical column's levels in canonical text (see `mlscale.categories`),
    `encodings` how each is fed to xgboost (absent: native), `frequencies` the train share of each level
    for the `frequency` encoding."""

    target: str
    task: str
    features: list[str]
    categories: dict[str, list[Any]] = field(default_factory=dict)
    classes: list[Any] | None = None
    encodings: dict[str, str] = field(default_factory=dict)
    frequencies: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "task": self.task,
            "features": list(self.features),
            "categories": {k: list(v) for k, v in self.categories.items()},
            "classes": None if self.classes is None else list(self.classes),
            "encodings": dict(self.encodings),
            "frequencies": {k: list(v) for k, v in self.frequencies.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureSchema:
        return cls(
            target=d["target"],
            task=d["task"],
            features=list(d["features"]),
            categories={k: list(v) for k, v in d.get("categories", {}).items()},
            classes=d.get("classes"),
            encodings=dict(d.get("encodings", {})),
            frequencies={k: list(v) for k, v in d.get("frequencies", {}).items()},
        )

    def encoding(self, col: str) -> str:
        return self.encodings.get(col, "native")

    @cached_property
    def _index(self) -> dict[str, dict[str, int]]:
        return {col: {c: i for i, c in enumerate(cats)} for col, cats in self.categories.items()}

    def frame(self, df: pd.DataFrame, *, where: str = "input") -> tuple[pd.DataFrame, dict[str, int]]:
        """Select and type the feature columns; returns the frame and unseen-category counts."""
        missing = [c for c in self.features if c not in df.columns]
        if missing:
            raise DataError(f"{where}: missing feature column(s) {', '.join(map(repr, missing))}")
        out = {}
        unseen: dict[str, int] = {}
        for col in self.features:
            values = df[col]
            if col in self.categories:
                col_codes = category_codes(values, self._index[col])
                new_nan = int(np.count_nonzero(col_codes < 0) - values.isna().sum())
                if new_nan:
                    unseen[col] = new_nan
                out[col] = encode_column(
                    col_codes, self.categories[col], self.encoding(col), self.frequencies.get(col, ())
                )
            else:
                out[col] = _numeric(values)
        return pd.DataFrame(out, index=df.index), unseen


def _numeric(values: pd.Series) -> Any:
    """A numeric feature as xgboost takes it: text (object, str, string) parsed, unparsable text and
    ±inf as missing, nullable and Arrow-backed numbers as plain float with NaN."""
    if values.dtype == bool:
        return values
    if pd.api.types.is_bool_dtype(values):  # nullable boolean
        values = values.astype("Float64")
    elif not pd.api.types.is_numeric_dtype(values):
        values = pd.to_numeric(values.astype(object), errors="coerce")
    if not isinstance(values.dtype, np.dtype):  # Int64, Float64, int64[pyarrow]...: NA -> NaN
        values = pd.Series(values.to_numpy(dtype=np.float64, na_value=np.nan), index=values.index)
    if values.dtype.kind == "f":
        # xgboost refuses ±inf ("Input data contains `inf`"), and so values past float32's range, which it
        # stores them in: like NaN, both mean "unknown" here
        array = values.to_numpy()
        too_big = ~(np.abs(array) <= FLOAT32_MAX) & ~np.isnan(array)
        if too_big.any():
            values = values.mask(too_big)
    return values


@dataclass(frozen=True)
class SourceFiles:
    """Where each train row of a file source lives, so cluster workers can read their own shard.

    Rows are numbered in file order (the order `load_table` concatenates them); a worker that reads
    the files overlapping its slice of `train_rows` and keeps exactly those rows gets the same shard,
    in the same order, as one cut from the driver's table.
    """

    paths: list[str]
    fmt: str
    offsets: list[int]  # global number of each file's first row
    rows: list[int]  # rows per file
    train_rows: np.ndarray  # global numbers of the train split's rows, ascending

    def shard(self, part: slice) -> tuple[np.ndarray, list[tuple[str, int]]]:
        """(global row numbers, [(file, its offset)] holding them) for one slice of the train rows."""
        wanted = self.train_rows[part]
        if not len(wanted):
            return wanted, []
        lo, hi = int(wanted[0]), int(wanted[-1])
        files = [
            (path, off)
            for path, off, n in zip(self.paths, self.offsets, self.rows, strict=True)
            if off <= hi and off + n > lo
        ]
        return wanted, files


def read_rows(path: str, fmt: str, offset: int, wanted: np.ndarray) -> pd.DataFrame:
    """The rows of one source file whose global numbers are in `wanted`, parsed as `load_table` does."""
    frame = pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
    local = wanted[(wanted >= offset) & (wanted < offset + len(frame))] - offset
    return frame.iloc[local].reset_index(drop=True)


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

    @property
    def n_train(self) -> int:
        return len(self.x_train) if self.stream is None else self.stream.n_train

    @property
    def n_rows(self) -> int:
        return self.n_train + len(self.x_valid) + len(self.x_test)

    @property
    def num_class(self) -> int:
        return len(self.schema.classes or [])


def resolve_files(path: str, *, where: str) -> list[str]:
    """A file, a directory (its csv/parquet files) or a glob -> sorted list of files."""
    if any(ch in path for ch in "*?["):
        files = sorted(f for f in glob.glob(path) if os.path.isfile(f))
        if not files:
            raise DataError(f"{where}: no files match {path}")
        return files
    p = Path(path)
    if p.is_dir():
        files = sorted(
            str(f)
            for f in p.iterdir()
            if f.is_file() and f.name.lower().endswith((*CSV_SUFFIXES, *PARQUET_SUFFIXES))
        )
        if not files:
            raise DataError(f"{where}: directory {path} has no .csv or .parquet files")
        return files
    if not p.exists():
        raise DataError(f"{where}: {path} not found")
    return [str(p)]


def file_format(files: list[str], declared: str | None = None) -> str:
    if declared in ("csv", "parquet"):
        return declared
    return "csv" if files[0].lower().endswith(CSV_SUFFIXES) else "parquet"


def _read_files(files: list[str], fmt: str, where: str) -> pd.DataFrame:
    return _read_frames(files, fmt, where)[0]


def _read_frames(files: list[str], fmt: str, where: str) -> tuple[pd.DataFrame, list[int]]:
    """(the files as one table, rows per file)."""
    frames = []
    first_cols: list[str] | None = None
    for f in files:
        try:
            if os.path.getsize(f) == 0:
                raise DataError(f"{where}: {f} is empty")
            df = pd.read_csv(f) if fmt == "csv" else pd.read_parquet(f)
        except DataError:
            raise
        except pd.errors.EmptyDataError as exc:
            raise DataError(f"{where}: {f} is empty") from exc
        except pd.errors.ParserError as exc:
            detail = str(exc).strip().splitlines()[-1]
            raise DataError(f"{where}: {f} is not valid CSV ({detail})") from exc
        except PermissionError as exc:
            raise DataError(f"{where}: {f} is not readable (permission denied)") from exc
        except (OSError, ValueError) as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(f"{where}: cannot read {f} as {fmt} ({detail})") from exc
        if first_cols is None:
            first_cols = list(df.columns)
        elif list(df.columns) != first_cols:
            diff = sorted(set(df.columns) ^ set(first_cols))
            raise DataError(
                f"{where}: {f} has different columns than {files[0]} (differing: {', '.join(diff) or 'order'})"
            )
        frames.append(df)
    table = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    if len(table) == 0:
        raise DataError(f"{where}: {files[0] + ' has' if len(files) == 1 else 'the files have'} no rows")
    return table, [len(f) for f in frames]


def _load_with_files(cfg: DataConfig, source: str) -> tuple[pd.DataFrame, SourceFiles | None]:
    """The table, and for a plain file source (no preprocess hook) where its rows came from."""
    if cfg.source not in ("csv", "parquet") or cfg.preprocess:
        return load_table(cfg, source=source), None
    files = resolve_files(str(cfg.path), where=f"{source}: data.path")
    table, rows = _read_frames(files, cfg.source, f"{source}: data.path")
    offsets = [int(o) for o in np.cumsum([0, *rows[:-1]])]
    return table, SourceFiles(
        paths=files, fmt=cfg.source, offsets=offsets, rows=rows, train_rows=np.zeros(0, np.int64)
    )


def load_table(cfg: DataConfig, *, source: str = "<recipe>") -> pd.DataFrame:
    """The raw table a recipe's data section points to, before any checks."""
    if cfg.source in ("csv", "parquet"):
        where = f"{source}: data.path"
        files = resolve_files(str(cfg.path), where=where)
        table = _read_files(files, cfg.source, where)
    elif cfg.source == "sklearn":
        table = _sklearn_table(str(cfg.dataset), cfg.target)
    else:
        table = synthetic_table(cfg)
    if cfg.preprocess:
        table = _run_hook(cfg.preprocess, table, source)
    return table


def describe_source(cfg: DataConfig, *, source: str = "<recipe>") -> dict[str, Any]:
    """Rows, columns and bytes of a data source without loading it (for `mlscale plan`)."""
    if cfg.source in ("csv", "parquet"):
        files = resolve_files(str(cfg.path), where=f"{source}: data.path")
        size = sum(os.path.getsize(f) for f in files)
        rows: int | None = None
        columns: int | None = None
        if cfg.source == "parquet":
            import pyarrow.parquet as pq

            try:
                metas = [pq.ParquetFile(f).metadata for f in files]
            except Exception as exc:
                raise DataError(
                    f"{source}: data.path: cannot read parquet metadata ({_first_line(exc)})"
                ) from exc
            rows = sum(m.num_rows for m in metas)
            columns = metas[0].num_columns
        return {"files": len(files), "rows": rows, "columns": columns, "bytes": size}
    if cfg.source == "synthetic" and cfg.synthetic is not None:
        s = cfg.synthetic
        return {
            "files": 0,
            "rows": s.n_rows,
            "columns": s.n_features + 1,
            "bytes": s.n_rows * (s.n_features * 4 + 8),
        }
    table = _sklearn_table(str(cfg.dataset), cfg.target)
    return {
        "files": 0,
        "rows": len(table),
        "columns": table.shape[1],
        "bytes": int(table.memory_usage().sum()),
    }


def _sklearn_table(name: str, target: str) -> pd.DataFrame:
    from sklearn import datasets

    loader = getattr(datasets, f"load_{name}")
    bunch = loader(as_frame=True)
    frame = bunch.frame.copy()
    frame.columns = [str(c).replace(" ", "_") for c in frame.columns]
    if target != "target" and "target" in frame.columns:
        frame = frame.rename(columns={"target": target})
    return frame


def synthetic_table(cfg: DataConfig) -> pd.DataFrame:
    """Seeded synthetic data (float32 features), e.g. the 1M x 28 HIGGS-like benchmark table."""
    from sklearn.datasets import make_classification, make_regression

    s = cfg.synthetic
    if s is None:
        raise RecipeError("data.synthetic is required when data.source is synthetic")
    informative = s.informative
    if s.kind == "classification":
        x, y = make_classification(
            n_samples=s.n_rows,
            n_features=s.n_features,
            n_informative=informative,
            n_redundant=min(2, s.n_features - informative),
            n_classes=s.n_classes,
            flip_y=0.05,
            class_sep=0.8,
            random_state=s.seed,
        )
    else:
        x, y = make_regression(
            n_samples=s.n_rows,
            n_features=s.n_features,
            n_informative=informative,
            noise=10.0,
            random_state=s.seed,
        )
    frame = pd.DataFrame(x.astype(np.float32), columns=[f"f{i}" for i in range(s.n_features)])
    frame[cfg.target] = y
    return frame


def _run_hook(spec: str, table: pd.DataFrame, source: str) -> pd.DataFrame:
    """Opt-in user code, named by import path only; it runs with the user's rights."""
    module_name, _, func_name = spec.partition(":")
    try:
        func = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError) as exc:
        raise RecipeError(f"{source}: data.preprocess: cannot import {spec!r} ({exc})") from exc
    out = func(table)
    if not isinstance(out, pd.DataFrame):
        raise DataError(f"{source}: data.preprocess: {spec} must return a pandas DataFrame")
    return out


def infer_task(y: pd.Series) -> tuple[str, str]:
    """(task, reason). Text / bool / two values -> classification; many floats -> regression."""
    n = int(y.nunique(dropna=True))
    if n == 2:
        return "binary", "target has 2 distinct values"
    numeric = pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
    if not numeric:
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
        table, files = _load_with_files(cfg, source)
    where = f"{source}: data"
    target = cfg.target
    if target not in table.columns:
        hint = _close(target, table.columns)
        raise DataError(f"{where}.target: column {target!r} not found{hint}; columns: {_list(table.columns)}")
    table, kept, dropped = _drop_missing_target(table, target, cfg.missing_target, where)
    y_raw = table[target]
    if y_raw.dtype.kind == "f" and not np.all(np.isfinite(y_raw.to_numpy(dtype=float))):
        raise DataError(f"{where}.target: column {target!r} has infinite values")
    if y_raw.nunique() < 2:
        raise DataError(
            f"{where}.target: column {target!r} has a single value ({_plain(y_raw.iloc[0])!r}); "
            "a model needs at least two"
        )
    features = _feature_columns(table, cfg, where)
    categories = _categorical_levels(table, features, cfg, where)

    task_note = None
    if recipe.task is None:
        task, reason = infer_task(y_raw)
        task_note = f"task inferred: {task} ({reason})"
        log.info(task_note)
    else:
        task = recipe.task
    classes, y_all = _encode_target(y_raw, task, recipe, where, source)
    idx_train, idx_valid, idx_test = _split_indices(table, y_all, task, recipe, where)
    encodings, frequencies = _encodings(table, categories, cfg, idx_train, where)
    schema = FeatureSchema(
        target=target,
        task=task,
        features=features,
        categories=categories,
        classes=classes,
        encodings=encodings,
        frequencies=frequencies,
    )
    x_all, _ = schema.frame(table, where=where)
    take = np.asarray
    notes = [task_note] if task_note else []
    if categories:
        notes.append("categorical encoding: " + describe_encodings(schema))
    return Dataset(
        schema=schema,
        x_train=x_all.iloc[take(idx_train)].reset_index(drop=True),
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
        else replace(files, train_rows=kept[np.asarray(idx_train, dtype=np.int64)]),
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


def encoding_table(schema: FeatureSchema) -> list[dict[str, Any]]:
    """Per categorical column: its encoding and level count (logged as encoding.json)."""
    return [
        {"column": col, "encoding": schema.encoding(col), "levels": len(cats)}
        for col, cats in schema.categories.items()
    ]


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


def _feature_columns(table: pd.DataFrame, cfg: DataConfig, where: str) -> list[str]:
    target, split_col = cfg.target, cfg.split.column
    if split_col and split_col not in table.columns:
        raise DataError(
            f"{where}.split.column: column {split_col!r} not found{_close(split_col, table.columns)}"
        )
    for col in cfg.exclude:
        if col not in table.columns:
            raise DataError(f"{where}.exclude: column {col!r} not found{_close(col, table.columns)}")
    reserved = {target, *cfg.exclude} | ({split_col} if split_col else set())
    if cfg.features is not None:
        unknown = [c for c in cfg.features if c not in table.columns]
        if unknown:
            hint = _close(unknown[0], table.columns)
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


def _categorical_levels(
    table: pd.DataFrame, features: list[str], cfg: DataConfig, where: str
) -> dict[str, list[Any]]:
    declared = set(cfg.categorical or [])
    for c in cfg.categorical or []:
        if c not in features:
            raise DataError(f"{where}.categorical: column {c!r} is not a feature")
    categories: dict[str, list[Any]] = {}
    for col in features:
        s = table[col]
        if s.isna().all():
            raise DataError(f"{where}.features: column {col!r} is entirely missing")
        is_text = not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s))
        if col in declared or (cfg.categorical is None and is_text):
            categories[col] = levels(s)
        elif is_text:
            raise DataError(f"{where}.categorical: column {col!r} is text; list it in data.categorical")
    for col in cfg.column_encoding:
        if col not in categories:
            raise DataError(
                f"{where}.column_encoding: column {col!r} is not a categorical feature"
                f"{_close(col, list(categories))}"
            )
    return categories


def _encodings(
    table: pd.DataFrame,
    categories: dict[str, list[Any]],
    cfg: DataConfig,
    idx_train: np.ndarray,
    where: str,
) -> tuple[dict[str, str], dict[str, list[float]]]:
    """Each categorical column's encoding, and the train shares of each level for `frequency`."""
    encodings: dict[str, str] = {}
    frequencies: dict[str, list[float]] = {}
    for col, cats in categories.items():
        encodings[col] = choose(len(cats), cfg.column_encoding.get(col, cfg.categorical_encoding))
        if encodings[col] == "frequency":
            index = {c: i for i, c in enumerate(cats)}
            train_codes = category_codes(table[col].iloc[np.asarray(idx_train)], index)
            frequencies[col] = shares(train_codes, len(cats))
    return encodings, frequencies


def _encode_target(
    y_raw: pd.Series, task: str, recipe: Recipe, where: str, source: str
) -> tuple[list[Any] | None, np.ndarray]:
    """(class labels, or None for regression; y as class codes 0..K-1 or floats)."""
    target = recipe.data.target
    if task == "regression":
        if not pd.api.types.is_numeric_dtype(y_raw) or pd.api.types.is_bool_dtype(y_raw):
            raise DataError(f"{where}.target: task regression needs a numeric target, got {y_raw.dtype}")
        return None, y_raw.to_numpy(dtype=np.float64)
    uniq = sorted(pd.unique(y_raw).tolist(), key=lambda v: (str(type(v)), v))
    if task == "binary" and len(uniq) != 2:
        raise DataError(f"{where}.target: task binary needs 2 classes, column {target!r} has {len(uniq)}")
    if task == "multiclass" and len(uniq) > MAX_MULTICLASS:
        raise DataError(
            f"{where}.target: task multiclass allows at most {MAX_MULTICLASS} classes, got {len(uniq)}"
        )
    classes = [_plain(v) for v in uniq]
    codes = {v: i for i, v in enumerate(uniq)}
    y_all = y_raw.map(codes).to_numpy(dtype=np.int32)
    if task == "multiclass" and recipe.train.params.get("num_class") not in (None, len(classes)):
        raise DataError(
            f"{source}: train.params.num_class is {recipe.train.params['num_class']}, "
            f"but the target has {len(classes)} classes"
        )
    return classes, y_all


def split_counts(n: int, test: float, valid: float, where: str) -> tuple[int, int]:
    """(test rows, valid rows) of `n` rows: counts, not float shares."""
    n_test, n_valid = round(n * test), max(1, round(n * valid))
    if n - n_test - n_valid < 2:
        raise DataError(f"{where}.split: too few rows ({n}) for the requested split")
    return n_test, n_valid


def _split_indices(
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


def iter_input_batches(path: str, *, batch_size: int, where: str) -> tuple[Any, Iterator[Any]]:
    """(arrow schema, iterator of record batches) over a file / directory / glob, read lazily."""
    import pyarrow.dataset as pads

    files = resolve_files(path, where=where)
    fmt = file_format(files)
    for f in files:
        if os.path.getsize(f) == 0:
            raise DataError(f"{where}: {f} is empty")
    try:
        ds = pads.dataset(files, format=fmt)
    except Exception as exc:  # arrow raises several types for mixed or broken schemas
        raise DataError(f"{where}: cannot read {path} as {fmt} ({_first_line(exc)})") from exc

    def batches() -> Iterator[Any]:
        try:
            # Arrow reads ahead 16 batches and 4 files by default: ~2.2 GB peak when streaming 10M rows
            # (measured). One batch and one file ahead keeps memory bounded by the batch size.
            yield from ds.to_batches(batch_size=batch_size, batch_readahead=1, fragment_readahead=1)
        except Exception as exc:
            raise DataError(f"{where}: cannot read {path} ({_first_line(exc)})") from exc

    return ds.schema, batches()


def count_input_rows(path: str, *, where: str) -> int | None:
    """Rows of a predict input from parquet metadata alone (for a progress ETA); None for CSV or on error."""
    files = resolve_files(path, where=where)
    if file_format(files) != "parquet":
        return None
    import pyarrow.parquet as pq

    try:
        return sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    except Exception:  # a broken file is reported by the read itself, with its name
        return None


def input_columns(path: str, *, where: str) -> list[str]:
    """Column names of a predict input, read from its schema only (no rows)."""
    schema, _ = iter_input_batches(path, batch_size=1, where=where)
    return [str(name) for name in schema.names]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def _close(word: str, choices: Any) -> str:
    import difflib

    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _list(cols: Any, limit: int = 8) -> str:
    cols = [str(c) for c in cols]
    return ", ".join(cols[:limit]) + (f", ... ({len(cols)} in all)" if len(cols) > limit else "")
