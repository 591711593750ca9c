"""Batch inference output: one file, written under a temporary name and renamed when complete.

A reader never sees a half-written file under the final name; a crash leaves only a
`.<name>.tmp-<host>-<pid>` file, which the next writer on that host removes once that process is gone.
A small manifest (`<output>.manifest.json`) records rows and schema.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from mlscale.data import count_input_rows, iter_input_batches, resolve_files
from mlscale.errors import DataError, RecipeError
from mlscale.explaining import contributions
from mlscale.model import Model
from mlscale.partitioned import (
    MANIFEST,
    PartitionedOutput,
    PartSummary,
    TableSink,
    is_dataset,
    left_by_a_dead_writer,
    part_name,
)
from mlscale.pipeline import ahead, ordered_map
from mlscale.recipe.schema import DataConfig, PredictConfig
from mlscale.results import ExplainedPart, ExplainResult, OnProgress, PredictResult
from mlscale.scoring_threads import ThreadModels, scoring_threads


def check_output(predict: PredictConfig, data: DataConfig, *, where: str) -> None:
    """Refuse, before anything runs, an output that would destroy an input or fail after all the work:
    the predict input or the training data itself (symlinks and hard links too), a file inside an input
    directory (the next run would read it as input), an existing directory, a path under a file."""
    output = predict.output.rstrip("/") or predict.output
    if predict.dataset and os.path.exists(output) and not is_dataset(output):
        raise RecipeError(
            f"{where}.output: {output} exists and is not a partitioned prediction output (no {MANIFEST}); "
            "give a new directory"
        )
    if not predict.dataset and os.path.isdir(output):
        example = os.path.join(output, "predictions.parquet")
        raise RecipeError(
            f"{where}.output: {output} is a directory; give a file path such as {example}, or set "
            "predict.partitioned: true for part files"
        )
    blocker = next((p for p in Path(output).parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise RecipeError(f"{where}.output: {output} cannot be created: {blocker} is a file, not a directory")
    target = Path(output).resolve()
    inputs = [("the predict input", predict.input)]
    if data.source in ("csv", "parquet"):
        inputs.append(("the training data", data.path))
    for what, spec in inputs:
        if spec is None:
            continue
        for f in _files(spec):
            if _same_file(target, f):
                named = f"{what} {f}" if what == "the predict input" else f"{what} (data.path {f})"
                raise RecipeError(
                    f"{where}.output: {output} is {named}; write the predictions to another file"
                )
        inside = next((f for f in _files(spec) if target in f.parents), None)
        if predict.dataset and inside is not None:
            raise RecipeError(
                f"{where}.output: {output} holds {what} file {inside}; write the predictions elsewhere"
            )
        folder = Path(spec).resolve()
        if folder.is_dir() and folder in target.parents:
            raise RecipeError(
                f"{where}.output: {output} is inside {what} directory {folder}; write the predictions outside it"
            )


def _files(spec: str) -> list[Path]:
    """The real paths of the files an input (file, directory or glob) names; none when it names none."""
    try:
        return [Path(f).resolve() for f in resolve_files(spec, where="")]
    except DataError:  # a missing input is reported where it is read, with its own message
        return []


def _same_file(target: Path, f: Path) -> bool:
    return target == f or (target.exists() and os.path.samefile(target, f))  # samefile: hard links


Scorer = Callable[..., tuple[pd.DataFrame, dict[str, int]]]
"""What turns raw rows into output rows: `Model.predict_frame` (predictions) or
`mlscale.explaining.contribution_frame` (contributions), called as scorer(model, frame, id_columns=,
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
        prefix = f".{self.path.name}.tmp-"
        for other in self.path.parent.glob(f"{prefix}*"):
            if other.is_file() and left_by_a_dead_writer(other.name.removeprefix(prefix)):
                other.unlink(missing_ok=True)  # a killed run's; a live writer's stays
        self.tmp = self.path.parent / f"{prefix}{socket.gethostname()}-{os.getpid()}"
        self._sink = TableSink(self.tmp, fmt)

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
        self._sink.close()
        if exc_type is not None:
            self.tmp.unlink(missing_ok=True)
            return
        manifest = self.path.parent / f"{self.path.name}.manifest.json"
        manifest.unlink(missing_ok=True)
        os.replace(self.tmp, self.path)
        manifest.write_text(
            json.dumps({"rows": self.rows, "format": self.fmt, "columns": self._sink.columns})
        )


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
    text = list(model.schema.categories)
    if predict.dataset:
        sources = input_sources(predict, test_frame=test_frame, where=where, text_columns=text)
    else:
        sources = [(None, input_frames(predict, test_frame=test_frame, where=where, text_columns=text))]
    threads = cpus or os.cpu_count() or 1
    scored = _pipelined(model, predict, _tagged(sources), unseen, where=where, scorer=scorer, cpus=threads)

    def counted() -> Iterator[Tagged]:
        nonlocal done
        for index, out in scored:
            yield index, out  # counted once the writer has it
            done += len(out)
            if progress is not None:
                progress("rows", {"done": done, "total": total})

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
