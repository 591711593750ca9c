"""Getting the train and valid rows to the training workers as dask dataframes, one partition per worker.

A csv/parquet source (no preprocess hook) is read by the workers themselves: each reads the files holding
its contiguous slice of the train rows and of the valid rows, and keeps exactly the rows the per-row split
(`mlscale.data.split_rule`, as `Dataset.split_rows` and `SourceFiles.train_rows` number them) gave each
split, so the partitions hold the rows, in the order, the driver's table has. Any other source (synthetic,
scikit-learn, a preprocess hook): the driver's frames are scattered, a slice to each worker.

Every partition is typed like the driver's table: mlscale's categorical levels as a fixed
`pd.CategoricalDtype` (never `astype("category")`, whose levels depend on the rows a partition happens to
hold, and whose dask meta has "unknown categories"), numeric columns with the driver's dtypes.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlscale.data import Dataset, FeatureSchema, SourceFiles, read_rows
from mlscale.errors import EngineError
from mlscale.util.text import first_line

if TYPE_CHECKING:
    import dask.dataframe as dd
    import distributed

log = logging.getLogger("mlscale")
LABEL = "__label"


def label_codes(label: pd.Series, classes: list[Any] | None) -> np.ndarray:
    """The encoded target: class codes 0..K-1 (int32), or floats for regression (as `prepare` encodes)."""
    if classes is None:
        return label.to_numpy(dtype=np.float64)
    return label.map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=np.int32)


def typed_part(frame: pd.DataFrame, schema: FeatureSchema, dtypes: Mapping[str, Any]) -> pd.DataFrame:
    """One partition's raw rows as model input plus the encoded label in `__label`: categorical columns get
    the fixed CategoricalDtype of the schema's levels even when this partition lacks some of them, numeric
    columns the driver's dtypes (a partition without missing values would otherwise read as int)."""
    x, _ = schema.frame(frame, where="train")
    x = x.astype(dict(dtypes))
    return x.assign(**{LABEL: label_codes(frame[schema.target], schema.classes)})


def read_worker_rows(
    fmt: str,
    files: list[tuple[str, int, int]],
    train_rows: np.ndarray,
    valid_rows: np.ndarray,
    schema: dict[str, Any],
    dtypes: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Runs on a worker: (its train rows, its valid rows) of `files` ((path, first row, rows) each), every
    file read once."""
    feature_schema = FeatureSchema.from_dict(schema)
    both = np.concatenate([train_rows, valid_rows])
    train_parts, valid_parts = [], []
    for path, offset, rows in files:
        frame = read_rows(path, fmt, offset, both)  # this file's train rows, then its valid rows
        n_train = int(np.count_nonzero((train_rows >= offset) & (train_rows < offset + rows)))
        train_parts.append(frame.iloc[:n_train])
        valid_parts.append(frame.iloc[n_train:])
    empty = pd.DataFrame(columns=[*feature_schema.features, feature_schema.target])

    def typed(parts: list[pd.DataFrame]) -> pd.DataFrame:
        frame = pd.concat(parts, ignore_index=True) if parts else empty
        return typed_part(frame, feature_schema, dtypes)

    return typed(train_parts), typed(valid_parts)


@dataclass
class WorkerFrames:
    """The train and valid rows as dask dataframes (features + `__label`), a partition on each worker."""

    train: dd.DataFrame
    valid: dd.DataFrame
    source: str  # "workers read files" or "scattered"
    parts: list[tuple[Any, Any]]  # per worker, the futures of its train and valid partitions


def _cut(n: int, parts: int) -> list[slice]:
    edges = np.linspace(0, n, parts + 1).astype(int)
    return [slice(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def worker_frames(client: distributed.Client, data: Dataset, workers: list[str]) -> WorkerFrames:
    """A partition of train and of valid rows on each of `workers` (contiguous slices, in table order):
    read by the workers from a file source, else (or when a worker cannot see the files) scattered."""
    import dask.dataframe as dd

    meta = data.x_train.iloc[:0].assign(**{LABEL: data.y_train[:0]})
    parts: list[tuple[Any, Any]] | None = None
    if data.files is not None and len(data.files.train_rows) and "valid" in data.split_rows:
        parts = _read_on_workers(client, data, data.files, workers)
    source = "workers read files"
    if parts is None:
        parts, source = _scatter(client, data, workers), "scattered"
    return WorkerFrames(
        train=dd.from_delayed([t for t, _ in parts], meta=meta, verify_meta=False),
        valid=dd.from_delayed([v for _, v in parts], meta=meta, verify_meta=False),
        source=source,
        parts=parts,
    )


def _slices(data: Dataset, workers: list[str]) -> list[tuple[str, slice, slice]]:
    train, valid = _cut(len(data.x_train), len(workers)), _cut(len(data.x_valid), len(workers))
    return list(zip(workers, train, valid, strict=True))


def _read_on_workers(
    client: distributed.Client, data: Dataset, files: SourceFiles, workers: list[str]
) -> list[tuple[Any, Any]] | None:
    """(train, valid) futures per worker, each worker reading its rows; None when a worker cannot read
    the files (not on storage every worker mounts): the caller then scatters the driver's rows."""
    import distributed

    dtypes = {c: data.x_train[c].dtype for c in data.x_train.columns}
    valid_rows = data.split_rows["valid"]
    pairs = []
    for address, st, sv in _slices(data, workers):
        wanted_t, wanted_v = files.train_rows[st], valid_rows[sv]
        holding = _files_holding(files, np.concatenate([wanted_t, wanted_v]))
        pairs.append(
            client.submit(
                read_worker_rows,
                files.fmt,
                [(os.path.abspath(p), o, n) for p, o, n in holding],
                wanted_t,
                wanted_v,
                data.schema.to_dict(),
                dtypes,
                workers=[address],
                allow_other_workers=False,
                pure=False,
            )
        )
    distributed.wait(pairs)
    failed = [f.exception() for f in pairs if f.status == "error"]
    if failed:
        client.cancel(pairs)
        if all(isinstance(e, OSError) for e in failed):
            log.info(
                "train: a worker cannot read the data files (%s); the driver ships the rows",
                first_line(failed[0]),
            )
            return None
        raise EngineError(f"dask: a worker could not read its train rows ({first_line(failed[0])})")
    log.info("train: each worker reads its rows of %d file(s)", len(files.paths))
    return [
        (
            client.submit(_first, pair, workers=[address], pure=False),
            client.submit(_second, pair, workers=[address], pure=False),
        )
        for pair, address in zip(pairs, workers, strict=True)
    ]


def _scatter(client: distributed.Client, data: Dataset, workers: list[str]) -> list[tuple[Any, Any]]:
    out = []
    for address, st, sv in _slices(data, workers):
        train = data.x_train.iloc[st].assign(**{LABEL: data.y_train[st]})
        valid = data.x_valid.iloc[sv].assign(**{LABEL: data.y_valid[sv]})
        out.append(
            (
                client.scatter(train, workers=[address], hash=False),
                client.scatter(valid, workers=[address], hash=False),
            )
        )
    return out


def _files_holding(files: SourceFiles, rows: np.ndarray) -> list[tuple[str, int, int]]:
    """(path, first row, rows) of the source files holding any of `rows` (global row numbers)."""
    return [
        (path, offset, n)
        for path, offset, n in zip(files.paths, files.offsets, files.rows, strict=True)
        if np.any((rows >= offset) & (rows < offset + n))
    ]


def _first(pair: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    return pair[0]


def _second(pair: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    return pair[1]
