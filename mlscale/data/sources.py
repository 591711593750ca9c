"""Data sources a recipe names: csv / parquet files, a scikit-learn demo set, seeded synthetic data,
and the optional preprocess hook."""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any

import numpy as np
import pandas as pd

from mlscale.data.files import SourceFiles, read_files, read_frames, resolve_files
from mlscale.errors import DataError, RecipeError
from mlscale.recipe.schema import DataConfig
from mlscale.util.text import first_line

log = logging.getLogger("mlscale")


def load_with_files(cfg: DataConfig, source: str) -> tuple[pd.DataFrame, SourceFiles | None]:
    """The table, and for a plain file source (no preprocess hook) where its rows came from."""
    if cfg.source not in ("csv", "parquet") or cfg.preprocess:
        return load_table(cfg, source=source), None
    files = resolve_files(str(cfg.path), where=f"{source}: data.path")
    table, rows = read_frames(files, cfg.source, f"{source}: data.path")
    offsets = [int(o) for o in np.cumsum([0, *rows[:-1]])]
    return table, SourceFiles(
        paths=files, fmt=cfg.source, offsets=offsets, rows=rows, train_rows=np.zeros(0, np.int64)
    )


def load_table(cfg: DataConfig, *, source: str = "<recipe>") -> pd.DataFrame:
    """The raw table a recipe's data section points to, before any checks."""
    if cfg.source in ("csv", "parquet"):
        where = f"{source}: data.path"
        files = resolve_files(str(cfg.path), where=where)
        table = read_files(files, cfg.source, where)
    elif cfg.source == "sklearn":
        table = sklearn_table(str(cfg.dataset), cfg.target)
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
                    f"{source}: data.path: cannot read parquet metadata ({first_line(exc)})"
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
    table = sklearn_table(str(cfg.dataset), cfg.target)
    return {
        "files": 0,
        "rows": len(table),
        "columns": table.shape[1],
        "bytes": int(table.memory_usage().sum()),
    }


def sklearn_table(name: str, target: str) -> pd.DataFrame:
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
    log.info("data.preprocess: importing and calling %s (your code, with your rights)", spec)
    try:
        func = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError) as exc:
        raise RecipeError(f"{source}: data.preprocess: cannot import {spec!r} ({exc})") from exc
    out = func(table)
    if not isinstance(out, pd.DataFrame):
        raise DataError(f"{source}: data.preprocess: {spec} must return a pandas DataFrame")
    return out
