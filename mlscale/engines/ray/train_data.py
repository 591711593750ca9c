"""Getting the train and valid rows to training workers: object-store shards put by the driver, or Ray Data
readers with which each worker reads its own slice of the source files."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import ray
import ray.data

from mlscale.data import Dataset, FeatureSchema, SourceFiles, read_rows
from mlscale.engines.ray.connection import nodes_missing
from mlscale.engines.ray.layout import READ_CPUS
from mlscale.errors import EngineError
from mlscale.recipe.schema import EngineConfig

log = logging.getLogger("mlscale")


def readable_files(config: EngineConfig, data: Dataset, *, client_mode: bool) -> SourceFiles | None:
    """The file source when workers should read their own train shard with Ray Data, else None.

    auto: only on a multi-node cluster. On one node the object store is local shared memory (1M rows:
    0.06 s to put) while a Ray Data pipeline starts its own actors and workers (~7 s more per fit on
    2 cores, benchmarks/read_bench.py); across nodes, shipping from the driver crosses its network link.
    """
    mode = config.ray.train_data
    if data.files is None or mode == "object_store" or not len(data.files.train_rows):
        return None
    if client_mode:
        if mode == "ray_data":
            raise EngineError("ray: engine.ray.train_data ray_data cannot run over Ray Client (ray://)")
        return None
    missing, nodes = nodes_missing(data.files.paths[0])
    if mode == "auto" and nodes < 2:
        return None
    if missing:
        message = f"{missing} of {nodes} nodes cannot see {data.files.paths[0]}"
        if mode == "ray_data":
            raise EngineError(
                f"ray: engine.ray.train_data ray_data: {message}; use storage every node mounts"
            )
        log.info("train: %s; the driver ships the train split to the workers", message)
        return None
    log.info("train: each worker reads its train shard of %d file(s) with Ray Data", len(data.files.paths))
    return data.files


def shards(data: Dataset, workers: int, *, with_train: bool = True) -> list[Any]:
    """Contiguous row shards of train (unless workers read it themselves) and valid, one per worker,
    put once in the object store."""

    def cut(n: int) -> list[slice]:
        edges = np.linspace(0, n, workers + 1).astype(int)
        return [slice(a, b) for a, b in itertools.pairwise(edges)]

    out = []
    for st, sv in zip(cut(len(data.x_train)), cut(len(data.x_valid)), strict=True):
        train = (data.x_train.iloc[st], data.y_train[st]) if with_train else (None, None)
        out.append(ray.put((*train, data.x_valid.iloc[sv], data.y_valid[sv])))
    return out


def train_readers(files: SourceFiles, schema: FeatureSchema, workers: int) -> list[ray.data.Dataset]:
    """One Ray Data dataset per worker reading only that worker's contiguous slice of the train rows:
    the same rows, in the same order, as `shards` cuts from the driver's table."""
    edges = np.linspace(0, len(files.train_rows), workers + 1).astype(int)
    out = []
    for a, b in itertools.pairwise(edges):
        wanted, parts = files.shard(slice(int(a), int(b)))
        out.append(
            ray.data.from_items(
                [{"path": p, "offset": o} for p, o in parts], override_num_blocks=max(1, len(parts))
            ).map_batches(
                _read_train_rows,  # type: ignore[arg-type]  # Ray types UDFs without fn_kwargs parameters
                fn_kwargs={
                    "fmt": files.fmt,
                    "wanted": ray.put(wanted),
                    "features": list(schema.features),
                    "target": schema.target,
                    "classes": schema.classes,
                },
                batch_size=1,
                num_cpus=READ_CPUS,
                batch_format="pandas",
            )
        )
    return out


def _read_train_rows(
    batch: pd.DataFrame, fmt: str, wanted: Any, features: list[str], target: str, classes: list[Any] | None
) -> Iterator[pa.Table]:
    """Ray Data UDF: the wanted rows of one source file, features as read plus the encoded label."""
    rows = ray.get(wanted) if isinstance(wanted, ray.ObjectRef) else wanted
    for path, offset in zip(batch["path"], batch["offset"], strict=True):
        frame = read_rows(str(path), fmt, int(offset), rows)
        label = frame[target]
        if classes is None:
            encoded = label.to_numpy(dtype=np.float64)
        else:
            encoded = label.map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=np.int32)
        yield pa.Table.from_pandas(frame[features].assign(__label=encoded), preserve_index=False)


def shard_frame(shard: Any, schema: FeatureSchema, split: str) -> tuple[pd.DataFrame, np.ndarray]:
    """A worker's shard (Ray Data dataset or iterator) as typed features and labels.

    Concatenated as Arrow and converted once, to numpy-backed columns: Ray Data's own pandas batches carry
    pyarrow dtypes, on which building the QuantileDMatrix took 1.4x as long (measured, 800k x 28)."""
    parts = list(shard.iter_batches(batch_format="pyarrow", batch_size=None))
    if not parts:
        frame = pd.DataFrame(columns=[*schema.features, "__label"])
    else:
        frame = pa.concat_tables(parts, promote_options="permissive").to_pandas()
    x, _ = schema.frame(frame, where=split)
    return x, frame["__label"].to_numpy()
