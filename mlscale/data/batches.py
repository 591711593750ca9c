"""Reading a csv / parquet source in fixed batches, and each batch's rows split by the per-row rule.

A batch is (file, chunk): parquet read with `ParquetFile.iter_batches`, csv with pandas' chunked reader
(the parser `pd.read_csv` uses, so values type as in memory). `TrainStream` holds what any process needs
to produce the train rows of any range of batches on its own: the files, the batch size, the label
mapping, the split plan and, per batch, how many rows of each class came before it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlscale.data import split_rule as splitting
from mlscale.errors import DataError

BATCH_BYTES = 64 * 2**20
MIN_BATCH_ROWS, MAX_BATCH_ROWS = 16_384, 1_048_576


def batch_rows(columns: int) -> int:
    """Rows per batch for a source of `columns` columns: about BATCH_BYTES of float64 values (pandas' width).

    xgboost's external memory caches one page per batch and keeps state per page while it trains: with 28
    features, 4M rows trained in 65,536-row pages left 446 MB of anonymous memory, in 262,144-row pages
    368 MB, in 1M-row pages 306 MB (benchmarks/extmem_pages.py). A batch is itself held a few times
    in flight (pandas, typed features, xgboost's copy), so batches stay bounded: 289,262 rows at 29 columns.
    A parquet batch never spans two files: smaller files make smaller pages."""
    return int(min(MAX_BATCH_ROWS, max(MIN_BATCH_ROWS, BATCH_BYTES // (8 * max(1, columns)))))


def source_columns(path: str, fmt: str) -> int:
    """How many columns the first file of a source has (read from its header or parquet schema only)."""
    if fmt == "csv":
        return len(pd.read_csv(path, nrows=0).columns)
    import pyarrow.parquet as pq

    return len(pq.read_schema(path).names)


@dataclass(frozen=True)
class BatchStart:
    """One batch and, per class, the kept rows (target present) of that class before it."""

    file: int
    chunk: int
    seen: tuple[int, ...]


@dataclass(frozen=True)
class TrainStream:
    """Everything needed to read the train rows of a file source batch by batch, in any process."""

    paths: tuple[str, ...]
    fmt: str
    batch_rows: int
    target: str
    classes: tuple[Any, ...] | None  # raw target values of the class codes 0..K-1; None: regression
    split_column: str | None
    plan: splitting.SplitPlan | None  # None with a split column
    batches: tuple[BatchStart, ...]
    n_train: int


def read_batches(
    paths: tuple[str, ...] | list[str], fmt: str, batch_rows: int
) -> Iterator[tuple[int, int, pd.DataFrame]]:
    """(file number, chunk number, rows) for every batch of the files, in table order."""
    for i, path in enumerate(paths):
        if os.path.getsize(path) == 0:
            raise DataError(f"{path} is empty")
        for j, frame in enumerate(_file_batches(path, fmt, batch_rows)):
            yield i, j, frame


def _file_batches(path: str, fmt: str, batch_rows: int) -> Iterator[pd.DataFrame]:
    if fmt == "csv":
        with pd.read_csv(path, chunksize=batch_rows) as reader:
            yield from reader
        return
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
        yield batch.to_pandas()


def label_codes(values: pd.Series, classes: tuple[Any, ...] | None) -> np.ndarray:
    """Class codes (int32) of target values, or the values as floats for regression."""
    if classes is None:
        return values.to_numpy(dtype=np.float64)
    return values.map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=np.int32)


def split_batch(
    stream: TrainStream, start: BatchStart, frame: pd.DataFrame
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """(the batch's rows that have a target, their labels, their split: splitting.TRAIN / VALID / TEST)."""
    frame = frame[frame[stream.target].notna().to_numpy()]
    labels = label_codes(frame[stream.target], stream.classes)
    if stream.split_column is not None:
        names = frame[stream.split_column].astype(str).str.lower().to_numpy()
        which = np.select(
            [names == "valid", names == "test"], [splitting.VALID, splitting.TEST], splitting.TRAIN
        ).astype(np.int8)
        return frame, labels, which
    assert stream.plan is not None
    codes = np.zeros(len(frame), np.int64) if stream.classes is None else labels.astype(np.int64)
    rank, _ = splitting.ranks(codes, np.asarray(start.seen, dtype=np.int64))
    return frame, labels, splitting.assign(stream.plan, codes, rank)


def part_of(n_batches: int, rank: int, parts: int) -> range:
    """The contiguous batch numbers of one of `parts` workers."""
    edges = np.linspace(0, n_batches, parts + 1).astype(int)
    return range(int(edges[rank]), int(edges[rank + 1]))


def train_batches(
    stream: TrainStream, batches: range | None = None
) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """(raw train rows, their labels) of each batch in `batches` (default: all), in table order."""
    wanted = range(len(stream.batches)) if batches is None else batches
    if not len(wanted):
        return
    by_key = {(b.file, b.chunk): k for k, b in enumerate(stream.batches)}
    files = sorted({stream.batches[k].file for k in wanted})
    for f in files:
        for chunk, frame in enumerate(_file_batches(stream.paths[f], stream.fmt, stream.batch_rows)):
            k = by_key.get((f, chunk))
            if k is None or k not in wanted:
                continue
            rows, labels, which = split_batch(stream, stream.batches[k], frame)
            keep = which == splitting.TRAIN
            if keep.any():
                yield rows[keep].reset_index(drop=True), labels[keep]
