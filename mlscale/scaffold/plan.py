"""`mlscale init`'s choices: for a demo data set, or worked out from a sample of the user's data."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from mlscale.data import MAX_MULTICLASS, infer_task, is_text_column
from mlscale.data.column_types import auto_type
from mlscale.data.leaks import leak_scores, leak_suspects
from mlscale.errors import DataError
from mlscale.scaffold.guess import check_task, guess_target, id_columns, name_from_path, split_column
from mlscale.scaffold.sample import Sample, read_sample
from mlscale.util.text import did_you_mean, short_list

# scikit-learn demo data set per task, with what a reader needs to know about it.
DEMO_DATASETS = {
    "binary": ("breast_cancer", "569 rows, 30 numeric features; target 0 = malignant, 1 = benign"),
    "multiclass": ("wine", "178 rows, 13 numeric features; target = one of 3 cultivars (0, 1, 2)"),
    "regression": ("diabetes", "442 rows, 10 numeric features; target = disease progression after a year"),
}


@dataclass
class Plan:
    """What `mlscale init` will write: the choices made and the prose explaining them."""

    name: str
    task: str
    target: str
    source: str  # csv | parquet | sklearn
    path: str | None = None
    dataset: str | None = None
    all_features: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    column_types: dict[str, str] = field(default_factory=dict)  # datetime and text columns
    ids: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)  # ids and empty columns: never features
    missing_target: int = 0  # rows without a target in the sample
    split_column: str | None = None
    header: list[str] = field(default_factory=list)  # prose about the data, at the top
    target_notes: list[str] = field(default_factory=list)  # prose after data.target
    data_notes: list[str] = field(default_factory=list)  # prose after the feature settings
    target_comment: str = ""
    task_comment: str = ""
    task_notes: list[str] = field(default_factory=list)
    id_comment: str = ""


def demo_plan(task: str | None, target: str | None, name: str | None) -> Plan:
    chosen = task or "binary"
    dataset = DEMO_DATASETS[chosen][0]
    target_col = target or "target"
    if target is not None and target != "target":
        from mlscale.data import (
            sklearn_table as _sklearn_table,  # imports scikit-learn: only for this rare case
        )

        columns = [str(c) for c in _sklearn_table(dataset, "target").columns]
        if target in columns:
            raise DataError(
                f"--target {target!r} is a feature of the {dataset} demo data set; "
                "pick a new name for its target column, or pass --data"
            )
    others = ", ".join(f"--task {t}: {d}" for t, (d, _) in DEMO_DATASETS.items() if t != chosen)
    return Plan(
        name=name or dataset,
        task=chosen,
        target=target_col,
        source="sklearn",
        dataset=dataset,
        header=[
            f"No --data given, so this recipe trains on scikit-learn's bundled {dataset} data set, the "
            f"{chosen} demo ({others}). Point it at your own table with `mlscale init --data FILE`, or edit "
            "the data section."
        ],
        target_comment="the column to predict"
        + ("" if target_col == "target" else " (the data set's target column, renamed)"),
        task_comment=f"the {dataset} data set is a {chosen} problem",
    )


def data_plan(path: str, task: str | None, target: str | None, name: str | None, n: int) -> Plan:
    sample = read_sample(path, n)
    frame = sample.frame
    picked = _pick_columns(path, frame, target)
    y = frame[picked.target]
    where = sample.rows("in")
    chosen, task_comment, task_notes = _pick_task(path, sample, picked.target, y, task)
    empty = [c for c in picked.features if frame[c].isna().all()]
    target_notes = _target_notes(picked, y, where) + _leak_notes(frame, picked, empty, chosen, where)
    typed = {c: auto_type(frame[c])[0] for c in picked.features if c not in empty}
    apart = ("datetime", "text")  # typed on their own: not categories
    categorical = [c for c in picked.features if is_text_column(frame[c]) and typed.get(c) not in apart]
    ids = picked.ids
    if ids:
        id_comment = f"{', '.join(ids)}: a distinct value per row {where}, named like an id"
    else:
        id_comment = "no id column found (one named id / *_id, distinct per row)"
    return Plan(
        name=name or name_from_path(path),
        task=chosen,
        target=picked.target,
        source=sample.source,
        path=path,
        all_features=picked.features,
        exclude=[*ids, *empty],
        missing_target=int(y.isna().sum()),
        categorical=categorical,
        column_types={c: t for c, t in typed.items() if t in ("datetime", "text")},
        ids=ids,
        split_column=picked.split_column,
        header=[_data_header(path, sample, len(frame.columns), where)],
        target_notes=target_notes,
        data_notes=_data_notes(frame, picked.features, empty, categorical, where),
        target_comment=picked.target_comment,
        task_comment=task_comment,
        task_notes=task_notes,
        id_comment=id_comment,
    )


@dataclass
class _Columns:
    """The target (given or guessed), the id and split columns, and the features left."""

    target: str
    target_comment: str
    guessed: bool
    candidates: list[str]  # other plausible targets, when guessed
    ids: list[str]
    split_column: str | None
    features: list[str]


def _pick_columns(path: str, frame: pd.DataFrame, target: str | None) -> _Columns:
    columns = list(frame.columns)
    if len(columns) < 2:
        raise DataError(
            f"{path}: needs at least 2 columns (a target and a feature), found {len(columns)}: {short_list(columns)}"
        )
    if target is not None and target not in columns:
        raise DataError(
            f"{path}: --target {target!r} is not a column{did_you_mean(target, columns)} (columns: {short_list(columns)})"
        )
    split_col = split_column(frame)
    ids = [c for c in id_columns(frame) if c != target and c != split_col]
    reserved = [*ids, *([split_col] if split_col else [])]
    candidates: list[str] = []
    target_guessed = target is None
    if target is None:
        if len(reserved) >= len(columns):
            raise DataError(f"{path}: every column looks like an id or split column; pass --target")
        target, why, candidates = guess_target(frame, reserved)
        target_comment = f"{why}; pass --target COL to choose another"
    else:
        target_comment = "from --target"
    features = [c for c in columns if c != target and c not in reserved]
    if not features:
        ids_text = f" and id column(s) {', '.join(ids)}" if ids else ""
        raise DataError(f"{path}: no feature columns besides the target {target!r}{ids_text}")
    return _Columns(
        target=target,
        target_comment=target_comment,
        guessed=target_guessed,
        candidates=candidates,
        ids=ids,
        split_column=split_col,
        features=features,
    )


def _pick_task(
    path: str, sample: Sample, target: str, y: pd.Series, task: str | None
) -> tuple[str, str, list[str]]:
    """(task, its comment, notes): --task checked against the target, else inferred as `mlscale run` does."""
    n_values = int(y.nunique(dropna=True))
    where = sample.rows("in")
    task_notes: list[str] = []
    inferred: tuple[str, str] | None = infer_task(y) if n_values >= 2 else None
    if task is None:
        if inferred is None:
            what = "no values" if n_values == 0 else "a single value"
            raise DataError(
                f"{path}: column {target!r} has {what} {where}; cannot infer the task (pass --task)"
            )
        chosen, reason = inferred
        if chosen == "multiclass" and n_values > MAX_MULTICLASS:
            raise DataError(
                f"{path}: column {target!r} is text with {n_values} distinct values {where}, more than the "
                f"{MAX_MULTICLASS} classes multiclass allows; pass --target with another column"
            )
        task_comment = f"inferred {sample.rows('from')}: {reason}"
        task_notes.append(
            "Inferred with the rule `mlscale run` applies; delete the task line to have it inferred at run "
            "time" + (" (and logged)." if sample.complete else " from all rows (and logged).")
        )
        return chosen, task_comment, task_notes
    check_task(path, task, target, y, n_values, where)
    if inferred is not None and inferred[0] != task:
        task_notes.append(f"The data alone suggests {inferred[0]} ({inferred[1]} {where}).")
    if task == "binary" and n_values < 2:
        task_notes.append(
            f"Column {target!r} shows {n_values} class(es) {where}; binary needs 2 over all rows."
        )
    return task, "from --task", task_notes


def _target_notes(picked: _Columns, y: pd.Series, where: str) -> list[str]:
    target_notes: list[str] = []
    if picked.guessed:
        target_notes.append(
            f"Other target candidates: {', '.join(picked.candidates)}."
            if picked.candidates
            else "Other target candidates: none (no other column named like a target, holding 2 values or "
            "a few text labels)."
        )
    missing = int(y.isna().sum())
    if missing:
        target_notes.append(
            f"Column {picked.target!r} has {missing:,} missing value(s) {where}: rows without a target are left "
            "out and counted (data.missing_target: drop; error refuses them)."
        )
    return target_notes


def _leak_notes(frame: pd.DataFrame, picked: _Columns, empty: list[str], task: str, where: str) -> list[str]:
    """The features that alone predict the target almost perfectly, the check `mlscale run` makes."""
    features = [c for c in picked.features if c not in empty]
    suspects = leak_suspects(leak_scores(frame[features], frame[picked.target], task), task)
    return [
        f"Column {s.column!r} alone predicts {picked.target!r} almost perfectly {where} ({s.measure} "
        f"{s.score:.3f}, each half of the rows predicted from the other): if it is known only once the outcome is, "
        "it leaks the target; add it to exclude."
        for s in suspects
    ]


def _data_notes(
    frame: pd.DataFrame, features: list[str], empty: list[str], categorical: list[str], where: str
) -> list[str]:
    data_notes: list[str] = []
    if empty:
        data_notes.append(
            f"Column(s) {', '.join(empty)} are empty {where}, so they are excluded; a feature that is "
            "entirely missing is an error."
        )
    few = [
        f"{c} ({frame[c].nunique()} values)"
        for c in features
        if pd.api.types.is_integer_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
        and 3 <= frame[c].nunique() <= 10
    ]
    if few:
        data_notes.append(
            f"Integer columns with few values, perhaps codes for categories: {', '.join(few[:5])}; "
            "add them to categorical if so."
        )
    rare = [c for c in categorical if frame[c].nunique() > max(50, len(frame) // 2)]
    if rare:
        data_notes.append(
            f"Text column(s) {', '.join(rare)} hold a distinct value on most rows: categories that rarely "
            "repeat help little; consider adding them to exclude."
        )
    return data_notes


def _data_header(path: str, sample: Sample, n_columns: int, where: str) -> str:
    frame = sample.frame
    n_files = len(sample.files)
    rows = (
        f"{sample.total_rows:,} rows"
        if sample.total_rows is not None
        else f"{len(frame):,} rows"
        if sample.complete
        else f"at least {len(frame):,} rows"
    )
    of_files = f"the first of {n_files} {sample.source} files" if n_files > 1 else f"{sample.source} file"
    return (
        f"Data: {path} ({of_files}, {rows}, {n_columns} columns); the target, task, categorical and id "
        f"columns below were worked out {where}{' of the first file' if n_files > 1 else ''}."
    )
