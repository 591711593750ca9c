"""Where a command writes, and whether it may: the output check of `mlscale run`, `plan`, `predict` and
`explain`, made before anything starts (one line, exit 2).

What a run writes: predict.output (one file and `<name>.manifest.json` beside it, or a partitioned
directory), and for `mlscale run` the plots in `plots/` and `report.html` beside it (without predict:
`output/report.html`). Each of these is refused when it is
- an input (the predict input, the training data, a file of an input glob, through symlinks or hard links)
  or inside an input directory, the recipe, a profile, or predict.model;
- the MLflow tracking store: its sqlite file, a file store's directory, or (for a sqlite store) the
  artifact folder `mlruns/` beside the working directory, or inside either;
- an existing file mlscale did not write (its marks: `mlscale.util.written`), unless `overwrite` is given
  (`--overwrite`). A file mlscale wrote is replaced, so rerunning a recipe works as it is.
The first two hold with `overwrite` too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from mlscale.data import resolve_files
from mlscale.errors import DataError, OutputError, RecipeError
from mlscale.recipe import Recipe
from mlscale.recipe.schema import DataConfig, PredictConfig
from mlscale.report.plots import PLOT_FILES
from mlscale.scoring.partitioned import MANIFEST, is_dataset
from mlscale.scoring.paths import output_path, plots_dir, report_path
from mlscale.util.written import (
    HTML_GENERATOR,
    PNG_SOFTWARE,
    html_by_mlscale,
    manifest_of,
    names_output,
    png_by_mlscale,
)


@dataclass(frozen=True)
class _Target:
    """One path a command writes: how messages name it, and how mlscale knows it wrote what is there."""

    path: Path
    label: str  # how a message names it, after "<where>: "
    by_mlscale: Callable[[Path], bool]
    mark: str  # what mlscale's own would have, for the message


@dataclass(frozen=True)
class _Read:
    what: str  # e.g. "the recipe r.yaml"
    path: Path  # resolved


def check_outputs(
    recipe: Recipe,
    source: str,
    *,
    command: str,
    store: str,
    overwrite: bool = False,
    reads: Iterable[tuple[str, Path]] = (),
) -> None:
    """Refuse, before anything starts, what `command` (run, plan, predict or explain) would write over
    (module docstring); `store` is the resolved tracking URI, `reads` the recipe and profile files
    (`Resolved.reads`)."""
    where = f"{source}: {'predict' if command in ('run', 'plan') else command}"
    targets: list[_Target] = []
    if recipe.predict is not None:
        check_output(recipe.predict, recipe.data, where=where)
        targets += _prediction_targets(recipe.predict, where)
    if command in ("run", "plan"):
        targets += _run_targets(recipe, source, where)
    known = _reads(reads, recipe)
    stored = _store_paths(store)
    for target in targets:
        _check(target, known, stored, overwrite=overwrite)


def _prediction_targets(predict: PredictConfig, where: str) -> list[_Target]:
    output = output_path(predict)
    label = f"{where}.output: {predict.output}"
    if predict.dataset:
        return [_Target(output, label, is_dataset, f"no {MANIFEST} in it")]
    manifest = manifest_of(output)
    return [
        _Target(
            output, label, lambda p: names_output(manifest_of(p), p.name), f"no {manifest.name} naming it"
        ),
        _Target(
            manifest,
            f"{where}.output: {manifest} (its manifest)",
            lambda m: names_output(m, output.name),
            "not a manifest of mlscale's",
        ),
    ]


def _run_targets(recipe: Recipe, source: str, where: str) -> list[_Target]:
    """What `mlscale run` writes besides the predictions: the plots and the report."""
    report = report_path(recipe)
    html = f"no {HTML_GENERATOR}"
    if recipe.predict is None:
        return [_Target(report, f"{source}: {report} (the run report)", html_by_mlscale, html)]
    folder = plots_dir(recipe.predict)
    if folder.exists() and not folder.is_dir():
        raise RecipeError(f"{where}.output: {folder} (the plots beside it) is a file, not a directory")
    png = f"no PNG text 'Software: {PNG_SOFTWARE}'"
    plot = "{where}.output: {path} (a plot beside it)"
    plots = [
        _Target(folder / n, plot.format(where=where, path=folder / n), png_by_mlscale, png)
        for n in PLOT_FILES
    ]
    return [
        *plots,
        _Target(report, f"{where}.output: {report} (the run report beside it)", html_by_mlscale, html),
    ]


def _reads(named: Iterable[tuple[str, Path]], recipe: Recipe) -> list[tuple[str, Path]]:
    """Every file the command reads, resolved, with how a message names it."""
    found = [(f"{what} {path}", path.resolve()) for what, path in named]
    predict = recipe.predict
    if predict is not None and predict.model is not None and os.path.exists(predict.model):
        found.append((f"predict.model {predict.model}", Path(predict.model).resolve()))
    inputs = [("the predict input", predict.input if predict is not None else None)]
    if recipe.data.source in ("csv", "parquet"):
        inputs.append(("the training data", recipe.data.path))
    for what, spec in inputs:
        if spec is not None:
            found += [(f"{what} {f}", f) for f in _files(spec)]
            if os.path.isdir(spec):
                found.append((f"{what} directory {spec}", Path(spec).resolve()))
    return found


def _store_paths(uri: str) -> tuple[list[Path], list[Path]]:
    """The local files and folders of a tracking store: a sqlite database (and its journals, and the
    default artifact folder mlruns/ of the working directory), or a file store's folder."""
    parsed = urlparse(uri)
    if parsed.scheme == "sqlite":
        db = unquote(parsed.path[1:])  # sqlite:///relative, sqlite:////absolute
        if not db or db == ":memory:":
            return [], [Path("mlruns").resolve()]
        path = Path(db).resolve()
        journals = [path.with_name(path.name + s) for s in ("-journal", "-wal", "-shm")]
        return [path, *journals], [Path("mlruns").resolve()]
    if parsed.scheme in ("", "file"):  # MLflow reads a plain path as a file store
        return [], [Path(url2pathname(parsed.path)).resolve()]
    return [], []


def _check(
    target: _Target, reads: list[tuple[str, Path]], stored: tuple[list[Path], list[Path]], *, overwrite: bool
) -> None:
    real = target.path.resolve()
    files, folders = stored
    if real in files:
        raise OutputError(f"{target.label} is the MLflow tracking store {real}; write it elsewhere")
    folder = next((d for d in folders if d == real or d in real.parents), None)
    if folder is not None:
        raise OutputError(f"{target.label} is inside the MLflow tracking store {folder}; write it elsewhere")
    for what, path in reads:
        if _same_file(real, path) or (path.is_dir() and path in real.parents):
            raise RecipeError(
                f"{target.label} is {'inside ' if path.is_dir() else ''}{what}; write it elsewhere"
            )
    if not overwrite and os.path.lexists(target.path) and not target.by_mlscale(target.path):
        raise OutputError(
            f"{target.label} exists and was not written by mlscale ({target.mark}); pass --overwrite to "
            "replace it, or write elsewhere"
        )


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
