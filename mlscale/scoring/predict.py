"""Batch inference output: one file, written under a temporary name and renamed when complete.

A reader never sees a half-written file under the final name; a crash leaves only a
`.<name>.tmp-<host>-<pid>.<random>` file (mode 0600, see `mlscale.util.written`), which the next writer on that
host removes once that process is gone. Its manifest (`<output>.manifest.json`, the same record as a
partitioned output's, see `mlscale.scoring.manifest`) names the file and records rows and columns: it is
also how a rerun knows the file is mlscale's to replace.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from mlscale.assess.explanations import contributions
from mlscale.data import count_input_rows, iter_input_batches, resolve_files
from mlscale.errors import DataError
from mlscale.modeling.model import Model
from mlscale.recipe.schema import PredictConfig
from mlscale.results import ExplainedPart, ExplainResult, OnProgress, PredictResult
from mlscale.scoring.manifest import manifest_record
from mlscale.scoring.partitioned import (
    PartitionedOutput,
    PartSummary,
    TableSink,
    part_name,
)
from mlscale.scoring.pipeline import ahead, ordered_map
from mlscale.scoring.threads import ThreadModels, scoring_threads
from mlscale.util.interrupts import raise_if_terminated
from mlscale.util.written import atomic_file, manifest_of, new_temp_file, publish, remove_dead_writers_temps

Scorer = Callable[..., tuple[pd.DataFrame, dict[str, int]]]
"""What turns raw rows into output rows: `Model.predict_frame` (predictions) or
`mlscale.assess.explanations.contribution_frame` (contributions), called as scorer(model, frame, id_columns=,
where=) and returning (frame, unseen-category counts)."""


def _predictions(
    model: Model, frame: pd.DataFrame, *, id_columns: list[str], where: str
) -> tuple[pd.DataFrame, dict[str, int]]:
    return model.predict_frame(frame, id_columns=id_columns, where=where)


class AtomicTableWriter:
    """Append pandas frames to parquet or csv; the file appears under `path` only on success."""

    def __init__(self, path: str | Path, fmt: str) -> None:
        self.path = Path(path)
        self.fmt = fmt
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_dead_writers_temps(self.path)  # a killed run's; a live writer's stay
        fd, self.tmp = new_temp_file(self.path)
        self._file = os.fdopen(fd, "wb")
        self._sink = TableSink(self.tmp, fmt, file=self._file)

    @property
    def rows(self) -> int:
        return self._sink.rows

    def write(self, frame: pd.DataFrame) -> None:
        self._sink.write(frame)

    def write_table(self, table: Any) -> None:
        """Append a pyarrow Table."""
        self._sink.write_table(table)

    def __enter__(self) -> AtomicTableWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        manifest = manifest_of(self.path)
        try:
            self._sink.close()
            if exc_type is not None:
                return
            self._file.flush()
            manifest.unlink(missing_ok=True)
            publish(self.tmp, self.path, fd=self._file.fileno())
        finally:
            self._file.close()
            self.tmp.unlink(missing_ok=True)  # renamed away already when published
        summary = manifest_record(
            self.fmt, [PartSummary(self.path.name, self.rows, columns=self._sink.columns)]
        )
        with atomic_file(manifest, "w", encoding="utf-8") as f:
            json.dump(summary, f)


def input_frames(
    predict: PredictConfig, *, test_frame: pd.DataFrame | None, where: str, text_columns: Collection[str] = ()
) -> Iterator[pd.DataFrame]:
    """The predict input as a stream of pandas frames (never the whole input at once); `text_columns` (the
    model's categoricals) read as text."""
    if predict.input is None:
        if test_frame is None or len(test_frame) == 0:
            raise DataError(f"{where}.input: no input given and the recipe has no test split to predict")
        for start in range(0, len(test_frame), predict.batch_size):
            yield test_frame.iloc[start : start + predict.batch_size]
        return
    _, batches = iter_input_batches(
        predict.input, batch_size=predict.batch_size, where=f"{where}.input", text_columns=text_columns
    )
    for batch in batches:
        yield batch.to_pandas(split_blocks=True)


def input_rows(predict: PredictConfig, *, test_frame: pd.DataFrame | None, where: str) -> int | None:
    """How many rows a predict run will see, when that is cheap to know (progress and ETA only)."""
    if predict.input is None:
        return None if test_frame is None else len(test_frame)
    return count_input_rows(predict.input, where=f"{where}.input")


def input_sources(
    predict: PredictConfig, *, test_frame: pd.DataFrame | None, where: str, text_columns: Collection[str] = ()
) -> list[tuple[str | None, Iterator[pd.DataFrame]]]:
    """The predict input per part: each input file with its batches (lazily), or the test split."""
    if predict.input is None:
        return [(None, input_frames(predict, test_frame=test_frame, where=where))]
    files = resolve_files(predict.input, where=f"{where}.input")

    def batches(path: str) -> Iterator[pd.DataFrame]:
        _, stream = iter_input_batches(
            path, batch_size=predict.batch_size, where=f"{where}.input", text_columns=text_columns
        )
        for batch in stream:
            yield batch.to_pandas(split_blocks=True)

    return [(f, batches(f)) for f in files]


Tagged = tuple[int, pd.DataFrame]
"""A frame with the index of the input part (file) it belongs to."""


def _tagged(sources: list[tuple[str | None, Iterator[pd.DataFrame]]]) -> Iterator[Tagged]:
    for index, (_, frames) in enumerate(sources):
        for frame in frames:
            yield index, frame


def _pipelined(
    model: Model,
    predict: PredictConfig,
    frames: Iterable[Tagged],
    unseen: dict[str, int],
    *,
    where: str,
    scorer: Scorer,
    cpus: int,
) -> Iterator[Tagged]:
    """Prediction frames, with reading, predicting and the caller's writing overlapped (threads): the
    next batches are read while these are predicted, several at once (a model copy per thread, across
    file boundaries), and predicted while the caller writes the last; in the input's order."""
    workers, nthread = scoring_threads(cpus)
    models = ThreadModels(model, nthread)

    def score(item: Tagged) -> tuple[int, pd.DataFrame, dict[str, int]]:
        index, frame = item
        out, new = scorer(models.get(), frame, id_columns=predict.id_columns, where=f"{where}.input")
        return index, out, new

    def predicted() -> Iterator[Tagged]:
        for index, out, new_unseen in ordered_map(score, ahead(frames), workers=workers):
            for col, n in new_unseen.items():
                unseen[col] = unseen.get(col, 0) + n
            yield index, out

    return ahead(predicted())


def predict_in_process(
    model: Model,
    predict: PredictConfig,
    *,
    test_frame: pd.DataFrame | None,
    where: str,
    progress: OnProgress | None = None,
    scorer: Scorer = _predictions,
    cpus: int | None = None,
) -> PredictResult:
    """Predict in this process, streaming: one atomic file, or a partitioned directory when asked.
    Batches are scored on `cpus` threads (default: all). Engine local's whole predict, every engine's
    fallback, and `mlscale explain` (with its scorer)."""
    total = input_rows(predict, test_frame=test_frame, where=where) if progress else None
    started = time.perf_counter()
    done = 0
    unseen: dict[str, int] = {}
    text = model.schema.text_columns
    if predict.dataset:
        sources = input_sources(predict, test_frame=test_frame, where=where, text_columns=text)
    else:
        sources = [(None, input_frames(predict, test_frame=test_frame, where=where, text_columns=text))]
    threads = cpus or os.cpu_count() or 1
    scored = _pipelined(model, predict, _tagged(sources), unseen, where=where, scorer=scorer, cpus=threads)

    def counted() -> Iterator[Tagged]:
        nonlocal done
        for index, out in scored:
            raise_if_terminated()  # a SIGTERM whose own raise was swallowed stops here, before the commit
            yield index, out  # counted once the writer has it
            done += len(out)
            if progress is not None:
                progress("rows", {"done": done, "total": total})
        raise_if_terminated()

    if progress is not None:
        progress("rows", {"done": 0, "total": total})
    if predict.dataset:
        output = _write_parts(predict, counted(), [source for source, _ in sources])
    else:
        output = _write_file(predict, (out for _, out in counted()))
    return PredictResult(
        output=output, rows=done, seconds=time.perf_counter() - started, unseen_categories=unseen
    )


def _write_file(predict: PredictConfig, frames: Iterable[pd.DataFrame]) -> Path:
    """The frames as one output file, written atomically."""
    with AtomicTableWriter(predict.output, predict.resolved_format) as writer:
        for frame in frames:
            writer.write(frame)
    return Path(predict.output)


def _write_parts(predict: PredictConfig, frames: Iterable[Tagged], sources: list[str | None]) -> Path:
    """Each source's frames (in order, tagged with the source's index) as its own part file, one
    source with no rows as an empty part; the directory is committed as a whole."""
    output = Path(predict.output.rstrip("/") or predict.output)
    fmt = predict.resolved_format
    with PartitionedOutput(output, fmt) as target:
        sinks = [TableSink(target.tmp / part_name(i, fmt), fmt) for i in range(len(sources))]
        try:
            current = 0
            for index, frame in frames:
                for finished in sinks[current:index]:
                    finished.close()  # an earlier source is complete: its file is done
                current = index
                sinks[index].write(frame)
        finally:
            for sink in sinks[current:]:
                sink.close()
        parts = [
            PartSummary(file=sink.path.name, rows=sink.rows, source=source, columns=sink.columns)
            for sink, source in zip(sinks, sources, strict=True)
        ]
        target.commit(parts)
    return output


def explain_in_process(model: Model, x: pd.DataFrame, *, nthread: int | None = None) -> ExplainResult:
    """`Engine.explain` in this process: engine local's, and the toy engine's."""
    started = time.perf_counter()
    values = contributions(model.booster, x, nthread=nthread)
    seconds = time.perf_counter() - started
    part = ExplainedPart(rows=len(x), node="local", pid=os.getpid(), seconds=seconds)
    return ExplainResult(values=values, parts=[part], seconds=seconds)
