"""Partitioned inference on a cluster: one Ray task per input file reads it, predicts it and writes its
own part file; only small summaries come back to the driver, which commits the directory.

No Ray Data, no rows through the driver or the object store: the driver's link and a single writer no
longer bound the job. The model travels once (`ray.put`) and is loaded once per worker process. On a
multi-node cluster the output directory must be one every node sees (shared filesystem): probed first.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import ray

from mlscale.data import file_format, resolve_files
from mlscale.engines.ray.connection import nodes_missing
from mlscale.engines.ray.worker import unwrap_data_error, use_threads
from mlscale.errors import DataError, RecipeError
from mlscale.model import Model
from mlscale.partitioned import PartitionedOutput, PartSummary, write_part
from mlscale.recipe.schema import PredictConfig
from mlscale.results import OnProgress, Placement, PredictResult

_MODELS: dict[str, Model] = {}  # per worker process: the booster loaded once, reused by later tasks


def _model(raw: bytes, meta: dict[str, Any]) -> Model:
    key = hashlib.sha1(raw).hexdigest()
    if key not in _MODELS:
        _MODELS.clear()
        _MODELS[key] = Model.from_bytes(raw, meta)
        _MODELS[key].booster.set_param({"nthread": 1})
    return _MODELS[key]


@ray.remote(num_cpus=1)
def _predict_file(
    raw: bytes, meta: dict[str, Any], path: str, directory: str, index: int, settings: dict[str, Any]
) -> tuple[PartSummary, str]:
    """Read one input file in batches, predict, write part `index`; (its summary, this node's id)."""
    import pyarrow.dataset as pads

    use_threads(1)
    model = _model(raw, meta)
    unseen: dict[str, int] = {}
    batches = pads.dataset([path], format=file_format([path])).to_batches(
        batch_size=settings["batch_size"], batch_readahead=1, fragment_readahead=1
    )

    def predicted() -> Any:
        for batch in batches:
            out, new = model.predict_frame(batch.to_pandas(split_blocks=True), id_columns=settings["id_columns"],
                                           where=settings["where"])  # fmt: skip
            for col, n in new.items():
                unseen[col] = unseen.get(col, 0) + n
            yield out

    summary = write_part(predicted(), directory, index, settings["format"], source=path)
    done = PartSummary(summary.file, summary.rows, summary.source, unseen, summary.columns)
    return done, ray.get_runtime_context().get_node_id()


def predict_files(
    model: Model, predict: PredictConfig, *, where: str, progress: OnProgress | None, total: int | None
) -> PredictResult:
    """Predict every file of `predict.input` in its own task, into a partitioned output."""
    started = time.perf_counter()
    if predict.input is None:
        raise RecipeError(f"{where}.input: a partitioned prediction needs an input to read")
    files = resolve_files(predict.input, where=f"{where}.input")
    output = Path(predict.output.rstrip("/") or predict.output)
    settings = {"batch_size": predict.batch_size, "id_columns": list(predict.id_columns),
                "where": f"{where}.input", "format": predict.resolved_format}  # fmt: skip
    raw, meta = model.to_bytes()
    with PartitionedOutput(output, predict.resolved_format) as target:
        marker = target.tmp / ".probe"
        marker.write_text("probe")
        missing, nodes = nodes_missing(str(marker))
        marker.unlink()
        if missing:
            raise DataError(
                f"{where}.output: {missing} of {nodes} nodes cannot see {output.parent}; a partitioned output "
                "on a multi-node cluster must be on storage every node sees"
            )
        raw_ref = ray.put(raw)
        pending = {
            _predict_file.remote(raw_ref, meta, f, str(target.tmp), i, settings): i
            for i, f in enumerate(files)
        }
        results: dict[int, tuple[PartSummary, str]] = {}
        done = 0
        if progress is not None:
            progress("rows", {"done": 0, "total": total})
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                try:
                    results[pending.pop(ref)] = ray.get(ref)
                except Exception as exc:  # a task's DataError (e.g. a missing feature column) comes wrapped
                    for other in pending:
                        ray.cancel(other)
                    raise unwrap_data_error(exc) from exc
            done = sum(summary.rows for summary, _ in results.values())
            if progress is not None:
                progress("rows", {"done": done, "total": total})
        parts = [results[i][0] for i in range(len(files))]
        target.commit(parts)
    unseen: dict[str, int] = {}
    for part in parts:
        for col, n in part.unseen.items():
            unseen[col] = unseen.get(col, 0) + n
    placement = [Placement(rows=summary.rows, node=node) for summary, node in results.values()]
    return PredictResult(
        output=output,
        rows=sum(p.rows for p in parts),
        seconds=time.perf_counter() - started,
        unseen_categories=unseen,
        placement=placement,
    )
