"""xgboost's external memory: an `ExtMemQuantileDMatrix` built from a `DataIter` over the train batches.

xgboost 3.2 reads the iterator a few times while it sketches the quantiles and writes the quantised pages
(`cache_prefix`, on local disk: `on_host` only matters for GPUs); training then reads those pages, not the
iterator. The cache lives in a temporary directory that `cache_dir` removes when training ends, fails or is
interrupted. The valid split is in memory: a plain `QuantileDMatrix` with `ref=` the train matrix, so it
uses the train matrix's bins. Categorical columns reach xgboost as pandas categoricals with the same
category list in every batch (`FeatureSchema.frame`), which is what `enable_categorical` needs per batch.
Tuning shares one cache across its trials (one build) unless it tunes `max_bin`; then each trial builds its
own cache and removes it afterwards.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import xgboost as xgb

from mlscale.data import Dataset, FeatureSchema
from mlscale.data.batches import TrainStream, train_batches
from mlscale.modeling.training import dmatrices

CACHE_PREFIX = "mlscale-extmem-"


class BatchIter(xgb.DataIter):
    """The train rows of a stream (or of one worker's range of its batches), typed by the schema."""

    def __init__(
        self, stream: TrainStream, schema: FeatureSchema, cache: str, batches: range | None = None
    ) -> None:
        self.stream, self.schema, self.batches = stream, schema, batches
        self.rows = 0
        self._it: Iterator[Any] | None = None
        super().__init__(cache_prefix=f"{cache}/cache", release_data=True)

    def next(self, input_data: Callable[..., None]) -> bool:
        if self._it is None:
            self._it = train_batches(self.stream, self.batches)
            self.rows = 0
        for frame, labels in self._it:
            x, _ = self.schema.frame(frame, where="train")
            self.rows += len(x)
            input_data(data=x, label=labels)
            return True
        return False

    def reset(self) -> None:
        self._it = None


@contextmanager
def cache_dir(parent: str | None = None) -> Iterator[str]:
    """A temporary directory for xgboost's page cache, removed afterwards (also on errors and Ctrl-C)."""
    path = tempfile.mkdtemp(prefix=CACHE_PREFIX, dir=parent)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def extmem_pair(
    stream: TrainStream,
    schema: FeatureSchema,
    x_valid: Any,
    y_valid: Any,
    *,
    cache: str,
    nthread: int | None = None,
    max_bin: int = 256,
    batches: range | None = None,
) -> tuple[Any, Any]:
    """(train ExtMemQuantileDMatrix, valid QuantileDMatrix on the train matrix's bins)."""
    it = BatchIter(stream, schema, cache, batches)
    dtrain = xgb.ExtMemQuantileDMatrix(
        it, missing=np.nan, nthread=nthread or 0, max_bin=max_bin, enable_categorical=True
    )
    dvalid = xgb.QuantileDMatrix(
        x_valid, label=y_valid, enable_categorical=True, nthread=nthread or 0, ref=dtrain
    )
    return dtrain, dvalid


@contextmanager
def train_matrices(
    data: Dataset, *, nthread: int | None = None, max_bin: int = 256
) -> Iterator[tuple[Any, Any]]:
    """(train, valid) matrices for a Dataset: in memory, or from its stream with a cache removed after."""
    if data.stream is None:
        yield dmatrices(data, nthread=nthread, max_bin=max_bin)
        return
    with cache_dir() as cache:
        pair = extmem_pair(
            data.stream,
            data.schema,
            data.x_valid,
            data.y_valid,
            cache=cache,
            nthread=nthread,
            max_bin=max_bin,
        )
        try:
            yield pair
        finally:
            free(*pair)


def free(*matrices: Any) -> None:
    """Release xgboost matrices now (DMatrix.__del__ frees the handle once and forgets it), so their cache
    files are closed before the cache directory goes; the caller's names for them must not be used after."""
    for matrix in matrices:
        matrix.__del__()
