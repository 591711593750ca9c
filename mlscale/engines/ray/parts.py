"""Inference on a cluster from input files: one Ray task per input file (spread over the nodes) reads it
and predicts it. The model travels once (`ray.put`) and is loaded once per worker process.

- Partitioned output: each task writes its own part file; only small summaries come back to the
  driver, which commits the directory. No rows through the driver or the object store: the driver's link
  and a single writer do not bound the job. On a multi-node cluster the output directory must be one
  every node sees (shared filesystem): probed first.
- One output file: each task streams its predictions back (a generator task: id and prediction
  columns, not the features, as an Arrow table per batch); the driver writes them in the input's order,
  atomically, with a bounded number of files in flight.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ray

from mlscale.engines.ray.connection import nodes_missing
from mlscale.engines.ray.worker import unwrap_data_error, use_threads
from mlscale.errors import DataError
from mlscale.modeling.model import Model
from mlscale.recipe.schema import PredictConfig
from mlscale.results import OnProgress, Placement, PredictResult
from mlscale.scoring.file_tasks import cached_model, file_job, file_predictions, merged_unseen
from mlscale.scoring.partitioned import PartitionedOutput, PartSummary, write_part


@ray.remote(num_cpus=1, scheduling_strategy="SPREAD")
def _predict_file(
    raw: bytes, meta: dict[str, Any], path: str, directory: str, index: int, settings: dict[str, Any]
) -> tuple[PartSummary, str]:
    """Read one input file in batches, predict, write part `index`; (its summary, this node's id)."""
    use_threads(1)
    unseen: dict[str, int] = {}
    frames = file_predictions(cached_model(raw, meta), path, settings, unseen)
    summary = write_part(frames, directory, index, settings["format"], source=path)
    done = PartSummary(summary.file, summary.rows, summary.source, unseen, summary.columns)
    return done, ray.get_runtime_context().get_node_id()


@ray.remote(num_cpus=1, scheduling_strategy="SPREAD")
def _stream_file(raw: bytes, meta: dict[str, Any], path: str, settings: dict[str, Any]) -> Iterator[Any]:
    """A generator task: one input file's predictions as a pyarrow Table per batch (id and prediction
    columns, not the features), then (its summary, this node's id)."""
    import pyarrow as pa

    use_threads(1)
    unseen: dict[str, int] = {}
    rows = 0
    for frame in file_predictions(cached_model(raw, meta), path, settings, unseen):
        rows += len(frame)
        yield pa.Table.from_pandas(frame, preserve_index=False)
    yield PartSummary("", rows, path, unseen), ray.get_runtime_context().get_node_id()


def _get(ref: Any) -> Any:
    """A task's result; its error is raised as the mlscale error it wraps (a DataError comes wrapped)."""
    try:
        return ray.get(ref)
    except Exception as exc:
        raise unwrap_data_error(exc) from exc


@contextmanager
def _cancelled_on_error(tasks: Callable[[], Iterable[Any]]) -> Iterator[None]:
    """On any error (a task's, the writer's, Ctrl-C), cancel the tasks still running: on a shared
    cluster they would otherwise go on predicting for nobody."""
    try:
        yield
    except BaseException:
        for task in tasks():
            ray.cancel(task)
        raise


def predict_files(
    model: Model, predict: PredictConfig, *, where: str, progress: OnProgress | None, total: int | None
) -> PredictResult:
    """Predict every file of `predict.input` in its own task, into a partitioned output."""
    started = time.perf_counter()
    job = file_job(model, predict, where)
    files, output, settings, raw, meta = job.files, job.output, job.settings, job.raw, job.meta
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
        if progress is not None:
            progress("rows", {"done": 0, "total": total})
        with _cancelled_on_error(lambda: list(pending)):
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    results[pending.pop(ref)] = _get(ref)
                if progress is not None:
                    progress("rows", {"done": sum(r[0].rows for r in results.values()), "total": total})
        parts = [results[i][0] for i in range(len(files))]
        target.commit(parts)
    placement = [Placement(rows=summary.rows, node=node) for summary, node in results.values()]
    return PredictResult(
        output=output,
        rows=sum(p.rows for p in parts),
        seconds=time.perf_counter() - started,
        unseen_categories=merged_unseen(parts),
        placement=placement,
    )


def predict_files_to_one(
    model: Model,
    predict: PredictConfig,
    *,
    where: str,
    progress: OnProgress | None,
    total: int | None,
    in_flight: int,
) -> PredictResult:
    """Predict every file of `predict.input` in its own generator task; the driver writes the streamed
    predictions into one file, in the input's order, atomically. At most `in_flight` files are predicted
    or waiting to be written at once (their batches wait in the object store, which spills to disk)."""
    from mlscale.scoring.predict import AtomicTableWriter  # the driver's only: workers import less

    started = time.perf_counter()
    job = file_job(model, predict, where)
    files, settings, raw, meta = job.files, job.settings, job.raw, job.meta
    raw_ref = ray.put(raw)
    todo = iter(files)
    window: deque[Any] = deque()
    parts: list[PartSummary] = []
    placement: list[Placement] = []

    def submit() -> None:
        for path in todo:
            window.append(_stream_file.remote(raw_ref, meta, path, settings))
            if len(window) >= in_flight:
                return

    with AtomicTableWriter(predict.output, predict.resolved_format) as writer:
        if progress is not None:
            progress("rows", {"done": 0, "total": total})
        submit()
        with _cancelled_on_error(lambda: window):
            while window:
                stream = window[0]
                for ref in stream:
                    item = _get(ref)
                    if isinstance(item, tuple):
                        summary, node = item
                        parts.append(summary)
                        placement.append(Placement(rows=summary.rows, node=node))
                        continue
                    writer.write_table(item)
                    if progress is not None:
                        progress("rows", {"done": writer.rows, "total": total})
                window.popleft()
                submit()
    return PredictResult(
        output=Path(predict.output),
        rows=writer.rows,
        seconds=time.perf_counter() - started,
        unseen_categories=merged_unseen(parts),
        placement=placement,
    )
