"""Inference on a Dask cluster from input files: one task per input file reads it and predicts it on a
worker. The model is scattered once (to every worker) and loaded once per worker process.

- Partitioned output: each task writes its own part file into the output's temporary directory (which
  every worker must see: probed first); only small summaries come back, and the driver commits the
  directory with the same manifest as the other engines (`mlscale.scoring.partitioned`).
- One output file: each task returns its file's predictions (id and prediction columns, not the features,
  as one Arrow table); the driver writes them in the input's order, atomically. At most `in_flight` files
  are predicted or waiting to be written at once, so memory is bounded by a few files' predictions.
- Faults: the scheduler runs the task of a lost worker again on another worker (a part file is rewritten
  whole), up to distributed's `allowed-failures`; past that the run fails in one line and nothing is
  committed. A task's own error (a bad input file) is not retried: it fails the run with its message.
- Interrupts: Ctrl-C or SIGTERM cancels the tasks not yet run and the run ends KILLED, nothing committed.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from distributed import Client, Future, as_completed, get_worker

from mlscale.errors import DataError, EngineError, MlscaleError
from mlscale.modeling.model import Model
from mlscale.recipe.schema import PredictConfig
from mlscale.results import OnProgress, Placement, PredictResult
from mlscale.scoring.file_tasks import cached_model, file_job, file_predictions, merged_unseen
from mlscale.scoring.partitioned import PartitionedOutput, PartSummary, write_part
from mlscale.util.interrupts import raise_if_terminated
from mlscale.util.text import first_line


def _here() -> str:
    """This worker, as Placement names it: its address and process."""
    return f"{get_worker().address} (pid {os.getpid()})"


def predict_file_task(
    raw: bytes, meta: dict[str, Any], path: str, directory: str, index: int, settings: dict[str, Any]
) -> tuple[PartSummary, str]:
    """On a worker: read one input file in batches, predict, write part `index`; (its summary, the worker)."""
    unseen: dict[str, int] = {}
    frames = file_predictions(cached_model(raw, meta), path, settings, unseen)
    summary = write_part(frames, directory, index, settings["format"], source=path)
    return PartSummary(summary.file, summary.rows, summary.source, unseen, summary.columns), _here()


def predict_table_task(
    raw: bytes, meta: dict[str, Any], path: str, settings: dict[str, Any]
) -> tuple[Any, PartSummary, str]:
    """On a worker: one input file's predictions as a pyarrow Table (no features), its summary, the worker."""
    import pyarrow as pa

    unseen: dict[str, int] = {}
    frames = [
        pa.Table.from_pandas(f, preserve_index=False)
        for f in file_predictions(cached_model(raw, meta), path, settings, unseen)
    ]
    table = pa.concat_tables(frames) if frames else None
    rows = 0 if table is None else table.num_rows
    return table, PartSummary("", rows, path, unseen), _here()


def _result(future: Future) -> Any:
    """A task's result: mlscale's own errors (a bad input file) as they are, anything else in one line."""
    try:
        return future.result()
    except MlscaleError:
        raise
    except Exception as exc:
        raise EngineError(f"dask: batch inference failed ({first_line(exc)})") from exc


@contextmanager
def _cancelled_on_error(client: Client, futures: Any) -> Iterator[None]:
    """On any error (a task's, the writer's, Ctrl-C), cancel the tasks not done: on a shared cluster they
    would otherwise go on predicting for nobody."""
    try:
        yield
    except BaseException:
        client.cancel(list(futures))
        raise


def _check_workers_see(client: Client, directory: Path, where: str) -> None:
    """Every worker must see the output's temporary directory (one machine, or shared storage)."""
    marker = directory / ".probe"
    marker.write_text("probe")
    try:
        seen = client.run(os.path.isfile, str(marker))
    finally:
        marker.unlink()
    missing = [addr for addr, ok in seen.items() if not ok]
    if missing:
        raise DataError(
            f"{where}.output: {len(missing)} of {len(seen)} Dask workers cannot see {directory.parent} "
            f"(first: {missing[0]}); a partitioned output on a cluster must be on storage every worker sees"
        )


def predict_files(
    client: Client,
    model: Model,
    predict: PredictConfig,
    *,
    where: str,
    progress: OnProgress | None,
    total: int | None,
) -> PredictResult:
    """Predict every file of `predict.input` in its own task, into a partitioned output."""
    started = time.perf_counter()
    job = file_job(model, predict, where)
    files, output, settings, raw, meta = job.files, job.output, job.settings, job.raw, job.meta
    with PartitionedOutput(output, predict.resolved_format) as target:
        _check_workers_see(client, target.tmp, where)
        raw_future = client.scatter(raw, broadcast=True, hash=False)
        name = f"mlscale-predict-{uuid.uuid4().hex[:12]}"
        futures = {
            client.submit(
                predict_file_task, raw_future, meta, f, str(target.tmp), i, settings, key=f"{name}-{i:05d}"
            ): i
            for i, f in enumerate(files)
        }
        results: dict[int, tuple[PartSummary, str]] = {}
        if progress is not None:
            progress("rows", {"done": 0, "total": total})
        with _cancelled_on_error(client, futures):
            for future in as_completed(futures, loop=client.loop):
                raise_if_terminated()
                results[futures[future]] = _result(future)
                if progress is not None:
                    progress("rows", {"done": sum(r[0].rows for r in results.values()), "total": total})
        parts = [results[i][0] for i in range(len(files))]
        raise_if_terminated()
        target.commit(parts)
    return PredictResult(
        output=output,
        rows=sum(p.rows for p in parts),
        seconds=time.perf_counter() - started,
        unseen_categories=merged_unseen(parts),
        placement=[Placement(rows=summary.rows, node=node) for summary, node in results.values()],
    )


def predict_files_to_one(
    client: Client,
    model: Model,
    predict: PredictConfig,
    *,
    where: str,
    progress: OnProgress | None,
    total: int | None,
    in_flight: int,
) -> PredictResult:
    """Predict every file of `predict.input` in its own task; the driver writes the predictions into one
    file, in the input's order, atomically, with at most `in_flight` files' predictions held at once."""
    from mlscale.scoring.predict import AtomicTableWriter  # the driver's only: workers import less

    started = time.perf_counter()
    job = file_job(model, predict, where)
    files, settings, raw, meta = job.files, job.settings, job.raw, job.meta
    raw_future = client.scatter(raw, broadcast=True, hash=False)
    window: deque[Future] = deque()
    parts: list[PartSummary] = []
    placement: list[Placement] = []

    name = f"mlscale-predict-{uuid.uuid4().hex[:12]}"
    todo = enumerate(files)

    def submit() -> None:
        for i, path in todo:
            key = f"{name}-{i:05d}"
            window.append(client.submit(predict_table_task, raw_future, meta, path, settings, key=key))
            if len(window) >= in_flight:
                return

    with AtomicTableWriter(predict.output, predict.resolved_format) as writer:
        if progress is not None:
            progress("rows", {"done": 0, "total": total})
        submit()
        with _cancelled_on_error(client, window):
            while window:
                table, summary, node = _result(window[0])
                window.popleft()
                submit()  # the next file is predicted while this one is written
                raise_if_terminated()
                if table is not None:
                    writer.write_table(table)
                parts.append(summary)
                placement.append(Placement(rows=summary.rows, node=node))
                if progress is not None:
                    progress("rows", {"done": writer.rows, "total": total})
    return PredictResult(
        output=Path(predict.output),
        rows=writer.rows,
        seconds=time.perf_counter() - started,
        unseen_categories=merged_unseen(parts),
        placement=placement,
    )
