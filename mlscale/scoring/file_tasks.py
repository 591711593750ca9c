"""What a cluster's inference task does with one input file, for every engine that runs a task per file
(ray, dask): the model loaded once per worker process, the file's predictions batch by batch, the settings
a task receives, and the unseen-category counts of all the parts added up.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mlscale.data import iter_input_batches, resolve_files
from mlscale.errors import RecipeError
from mlscale.modeling.model import Model
from mlscale.recipe.schema import PredictConfig
from mlscale.scoring.partitioned import PartSummary

_MODELS: dict[str, Model] = {}  # per worker process: the booster loaded once, reused by later tasks
_MODELS_LOCK = threading.Lock()  # a Dask worker runs several tasks at once, in threads


def cached_model(raw: bytes, meta: dict[str, Any]) -> Model:
    """The model `raw` holds, loaded once per process and predicting with one thread per task."""
    key = hashlib.sha1(raw).hexdigest()
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS.clear()
            _MODELS[key] = Model.from_bytes(raw, meta)
            _MODELS[key].booster.set_param({"nthread": 1})
        return _MODELS[key]


def file_predictions(
    model: Model, path: str, settings: dict[str, Any], unseen: dict[str, int]
) -> Iterator[pd.DataFrame]:
    """One input file's predictions, batch by batch (unseen-category counts added to `unseen`)."""
    text = model.schema.text_columns
    _, batches = iter_input_batches(
        path, batch_size=settings["batch_size"], where=settings["where"], text_columns=text
    )
    for batch in batches:
        out, new = model.predict_frame(
            batch.to_pandas(split_blocks=True), id_columns=settings["id_columns"], where=settings["where"]
        )
        for col, n in new.items():
            unseen[col] = unseen.get(col, 0) + n
        yield out


@dataclass(frozen=True)
class FileJob:
    """A predict section made ready for one task per input file: the files in order, where the output goes,
    the tasks' settings, and the model as bytes and metadata (to ship once)."""

    files: list[str]
    output: Path
    settings: dict[str, Any]
    raw: bytes
    meta: dict[str, Any]


def file_job(model: Model, predict: PredictConfig, where: str) -> FileJob:
    """The input files of `predict` (RecipeError when it names none: the test split is predicted in process)."""
    if predict.input is None:
        raise RecipeError(f"{where}.input: predicting in a task per input file needs an input to read")
    files = resolve_files(predict.input, where=f"{where}.input")
    raw, meta = model.to_bytes()
    output = Path(predict.output.rstrip("/") or predict.output)
    return FileJob(files, output, task_settings(predict, where), raw, meta)


def task_settings(predict: PredictConfig, where: str) -> dict[str, Any]:
    """What each file's task needs of the predict section (plain values: they travel with the task)."""
    return {
        "batch_size": predict.batch_size,
        "id_columns": list(predict.id_columns),
        "where": f"{where}.input",
        "format": predict.resolved_format,
    }


def merged_unseen(parts: list[PartSummary]) -> dict[str, int]:
    """Unseen-category counts of all the parts, per column."""
    unseen: dict[str, int] = {}
    for part in parts:
        for col, n in part.unseen.items():
            unseen[col] = unseen.get(col, 0) + n
    return unseen
