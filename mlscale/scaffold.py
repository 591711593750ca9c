"""`mlscale init`: write a commented starter recipe, from a data file or on a scikit-learn demo data set.

Only a sample of the data is read (csv: the first rows; parquet: the schema and the first rows of the
row groups holding the first rows), and only pandas / pyarrow are imported: never ray, mlflow or xgboost.
The target, the task and the categorical columns are worked out with the same rules `mlscale run`
applies (`mlscale.data`), and each guess is stated in a comment next to the setting it chose.

Conventions of the generated text: an optional setting is written commented out as `# key: value`
(lowercase key), ready to uncomment; a prose comment starts with a capital letter or a symbol.
The text is validated with mlscale's own recipe schema before it is returned.
"""

from __future__ import annotations

import os
import re
import textwrap
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from mlscale.data import (
    CSV_SUFFIXES,
    MAX_MULTICLASS,
    PARQUET_SUFFIXES,
    infer_task,
    resolve_files,
)
from mlscale.errors import DataError, RecipeError
from mlscale.metrics import DEFAULT_EVAL_METRIC, DEFAULT_TUNE_METRIC
from mlscale.recipe.schema import Recipe, Task
from mlscale.text import did_you_mean, first_line, short_list

TASKS: tuple[str, ...] = typing.get_args(Task)
SAMPLE_ROWS = 10_000
# Column names (compared case-insensitively) that usually hold what a table is meant to predict, best first.
TARGET_NAMES = (
    "target", "label", "labels", "y", "class", "outcome", "churn", "churned", "response",
    "survived", "default", "fraud", "is_fraud", "diagnosis",
)  # fmt: skip
# scikit-learn demo data set per task, with what a reader needs to know about it.
DEMO_DATASETS = {
    "binary": ("breast_cancer", "569 rows, 30 numeric features; target 0 = malignant, 1 = benign"),
    "multiclass": ("wine", "178 rows, 13 numeric features; target = one of 3 cultivars (0, 1, 2)"),
    "regression": ("diabetes", "442 rows, 10 numeric features; target = disease progression after a year"),
}
_ID_NAMES = {"id", "uuid", "guid", "index", "unnamed: 0", "row", "rowid", "row_number", "rownum"}
_COMMENT_COL = 37  # trailing comments line up here
_WRAP = 108


def _name_pattern() -> re.Pattern[str]:
    """The recipe name rule, taken from the schema so there is one definition."""
    for meta in Recipe.model_fields["name"].metadata:
        pattern = getattr(meta, "pattern", None)
        if pattern:
            return re.compile(pattern)
    raise AssertionError("Recipe.name has no pattern")  # pragma: no cover


_NAME = _name_pattern()


def scaffold_recipe(
    *,
    data: str | os.PathLike[str] | None = None,
    task: str | None = None,
    target: str | None = None,
    name: str | None = None,
    sample_rows: int = SAMPLE_ROWS,
) -> str:
    """The YAML text of a commented starter recipe.

    data: a csv / parquet file, a directory of them or a glob; None: a scikit-learn demo data set chosen
    by task (binary: breast_cancer, multiclass: wine, regression: diabetes).
    task: binary | multiclass | regression; None: inferred from the target like `mlscale run` does.
    target: the column to predict; None: guessed from the column names, else the last column.
    name: the recipe name; None: the data file's stem, or the demo data set's name.
    Raises RecipeError (a bad --task / --name) or DataError (unusable data, unknown --target, a task the
    target contradicts) with a one-line message; reads at most `sample_rows` rows.
    """
    if task is not None and task not in TASKS:
        raise RecipeError(f"--task must be one of {', '.join(TASKS)}, got {task!r}")
    if name is not None and not _NAME.match(name):
        raise RecipeError(
            f"--name must be letters, digits, '_', '.' or '-' (starting with a letter or digit), got {name!r}"
        )
    if sample_rows < 1:
        raise ValueError(f"sample_rows must be >= 1, got {sample_rows}")
    if data is None:
        plan = _demo_plan(task, target, name)
    else:
        plan = _data_plan(os.fspath(data), task, target, name, sample_rows)
    text = _render(plan)
    _self_check(text, plan)
    return text


# --- what to write ------------------------------------------------------------------------------------


@dataclass
class _Plan:
    name: str
    task: str
    target: str
    source: str  # csv | parquet | sklearn
    path: str | None = None
    dataset: str | None = None
    all_features: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
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


def _demo_plan(task: str | None, target: str | None, name: str | None) -> _Plan:
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
    return _Plan(
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


@dataclass
class _Sample:
    path: str  # as given by the user
    source: str  # csv | parquet
    files: list[str]
    frame: pd.DataFrame
    complete: bool  # the frame holds every row of the data
    total_rows: int | None  # when known without reading everything (parquet metadata)

    def rows(self, preposition: str) -> str:
        """'in all 300 rows' / 'from the first 10,000 rows': which rows a finding rests on."""
        n = len(self.frame)
        return f"{preposition} all {n:,} rows" if self.complete else f"{preposition} the first {n:,} rows"


def _read_sample(path: str, n: int) -> _Sample:
    files = resolve_files(path, where="--data")
    formats = {_format_of(f) for f in files}
    if len(formats) > 1:
        raise DataError(f"{path}: mixes csv and parquet files; point --data at one format")
    fmt = formats.pop()
    first = files[0]
    if os.path.getsize(first) == 0:
        raise DataError(f"{first}: file is empty")
    total: int | None = None
    if fmt == "csv":
        try:
            frame = pd.read_csv(first, nrows=n)
        except pd.errors.EmptyDataError as exc:
            raise DataError(f"{first}: file is empty") from exc
        except pd.errors.ParserError as exc:
            detail = str(exc).strip().splitlines()[-1]
            raise DataError(f"{first}: not valid CSV ({detail})") from exc
        except PermissionError as exc:
            raise DataError(f"{first}: not readable (permission denied)") from exc
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise DataError(f"{first}: cannot read as csv ({first_line(exc)})") from exc
        complete = len(files) == 1 and len(frame) < n
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(first)
            total = pf.metadata.num_rows
            batch = next(pf.iter_batches(batch_size=n), None)  # reads only the row groups holding these rows
            table = pa.Table.from_batches([batch]) if batch is not None else pf.schema_arrow.empty_table()
            frame = table.to_pandas()
        except PermissionError as exc:
            raise DataError(f"{first}: not readable (permission denied)") from exc
        except Exception as exc:  # arrow raises several types for broken files
            raise DataError(f"{first}: cannot read as parquet ({first_line(exc)})") from exc
        complete = len(files) == 1 and len(frame) == total
        if len(files) > 1:
            total = None
    if len(frame) == 0:
        raise DataError(f"{first}: has no rows")
    frame.columns = [str(c) for c in frame.columns]
    return _Sample(path=path, source=fmt, files=files, frame=frame, complete=complete, total_rows=total)


def _format_of(file: str) -> str:
    lower = file.lower()
    if lower.endswith(CSV_SUFFIXES):
        return "csv"
    if lower.endswith(PARQUET_SUFFIXES):
        return "parquet"
    try:
        with open(file, "rb") as fh:
            if fh.read(4) == b"PAR1":
                return "parquet"
    except OSError:
        pass
    raise DataError(f"{file}: cannot tell the format from the name; expected a .csv or .parquet file")


def is_text_column(s: pd.Series) -> bool:
    """Text (string / object / category) columns: what `mlscale.data.prepare` treats as categorical."""
    return not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s))


def _is_numeric_target(s: pd.Series) -> bool:
    """What task regression accepts (the rule in `mlscale.data.prepare`)."""
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def _id_like_name(column: str) -> bool:
    lower = column.lower().strip()
    if lower in _ID_NAMES or lower.endswith(("_id", "-id", " id", ".id")):
        return True
    return bool(re.search(r"[a-z0-9]I[dD]$", column))  # camelCase: customerId, customerID


def id_columns(frame: pd.DataFrame) -> list[str]:
    """Columns named like an id (id, *_id, customerId, ...) holding a distinct integer or text per row."""
    found = []
    for col in frame.columns:
        s = frame[col]
        kind_ok = (pd.api.types.is_integer_dtype(s) and not pd.api.types.is_bool_dtype(s)) or is_text_column(
            s
        )
        if _id_like_name(str(col)) and kind_ok and len(s) > 1 and s.notna().all() and s.is_unique:
            found.append(str(col))
    return found


def _split_column(frame: pd.DataFrame) -> str | None:
    """A column named 'split' holding train / valid / test, usable as data.split.column."""
    for col in frame.columns:
        if str(col).lower() != "split":
            continue
        values = set(frame[col].dropna().astype(str).str.lower().unique())
        if values and values <= {"train", "valid", "test"} and "train" in values:
            return str(col)
    return None


def _plausible_target(s: pd.Series) -> bool:
    n = int(s.nunique(dropna=True))
    return n >= 2 and (_is_numeric_target(s) or n <= MAX_MULTICLASS)


def guess_target(frame: pd.DataFrame, exclude: list[str]) -> tuple[str, str, list[str]]:
    """(target, why, other candidates) from column names, else the last plausible column."""
    columns = [c for c in frame.columns if c not in exclude]
    lower = {c.lower(): c for c in reversed(columns)}  # first column wins on a case-only clash
    named = [lower[n] for n in TARGET_NAMES if n in lower]
    if named:
        target, why = named[0], "guessed from its name"
    else:
        plausible = [c for c in columns if _plausible_target(frame[c])]
        target = (plausible or columns)[-1]
        why = "guessed: the last column" if target == columns[-1] else "guessed: the last usable column"
    others = [c for c in named if c != target]
    if columns[-1] != target:
        others.append(columns[-1])
    others += [c for c in columns if c != target and frame[c].nunique(dropna=True) == 2]
    return target, why, list(dict.fromkeys(others))[:5]


def _data_plan(path: str, task: str | None, target: str | None, name: str | None, n: int) -> _Plan:
    sample = _read_sample(path, n)
    frame = sample.frame
    columns = list(frame.columns)
    if len(columns) < 2:
        raise DataError(
            f"{path}: needs at least 2 columns (a target and a feature), found {len(columns)}: {short_list(columns)}"
        )
    if target is not None and target not in columns:
        raise DataError(
            f"{path}: --target {target!r} is not a column{did_you_mean(target, columns)} (columns: {short_list(columns)})"
        )
    split_col = _split_column(frame)
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

    y = frame[target]
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
    else:
        chosen = task
        _check_task(path, chosen, target, y, n_values, where)
        task_comment = "from --task"
        if inferred is not None and inferred[0] != chosen:
            task_notes.append(f"The data alone suggests {inferred[0]} ({inferred[1]} {where}).")
        if chosen == "binary" and n_values < 2:
            task_notes.append(
                f"Column {target!r} shows {n_values} class(es) {where}; binary needs 2 over all rows."
            )

    target_notes: list[str] = []
    if target_guessed:
        target_notes.append(
            f"Other target candidates: {', '.join(candidates)}."
            if candidates
            else "Other target candidates: none (no other column named like a target or holding 2 values)."
        )
    data_notes: list[str] = []
    missing = int(y.isna().sum())
    if missing:
        target_notes.append(
            f"Column {target!r} has {missing:,} missing value(s) {where}: rows without a target are left "
            "out and counted (data.missing_target: drop; error refuses them)."
        )
    empty = [c for c in features if frame[c].isna().all()]
    if empty:
        data_notes.append(
            f"Column(s) {', '.join(empty)} are empty {where}, so they are excluded; a feature that is "
            "entirely missing is an error."
        )
    categorical = [c for c in features if is_text_column(frame[c])]
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

    n_files = len(sample.files)
    rows = (
        f"{sample.total_rows:,} rows"
        if sample.total_rows is not None
        else f"{len(frame):,} rows"
        if sample.complete
        else f"at least {len(frame):,} rows"
    )
    of_files = f"the first of {n_files} {sample.source} files" if n_files > 1 else f"{sample.source} file"
    header = [
        f"Data: {path} ({of_files}, {rows}, {len(columns)} columns); the target, task, categorical and id "
        f"columns below were worked out {where}{' of the first file' if n_files > 1 else ''}."
    ]
    if ids:
        id_comment = f"{', '.join(ids)}: a distinct value per row {where}, named like an id"
    else:
        id_comment = "no id column found (one named id / *_id, distinct per row)"
    return _Plan(
        name=name or _name_from_path(path),
        task=chosen,
        target=target,
        source=sample.source,
        path=path,
        all_features=features,
        exclude=[*ids, *empty],
        missing_target=missing,
        categorical=categorical,
        ids=ids,
        split_column=split_col,
        header=header,
        target_notes=target_notes,
        data_notes=data_notes,
        target_comment=target_comment,
        task_comment=task_comment,
        task_notes=task_notes,
        id_comment=id_comment,
    )


def _check_task(path: str, task: str, target: str, y: pd.Series, n_values: int, where: str) -> None:
    """Refuse a --task the target cannot have (the rules `mlscale.data.prepare` applies at run time)."""
    if task == "regression" and not _is_numeric_target(y):
        held = "true/false values" if pd.api.types.is_bool_dtype(y) else "text"
        raise DataError(f"{path}: --task regression needs a numeric target; column {target!r} holds {held}")
    if task == "binary" and n_values > 2:
        raise DataError(
            f"{path}: --task binary needs a target with 2 classes; column {target!r} has {n_values} "
            f"distinct values {where}"
        )
    if task == "multiclass" and n_values > MAX_MULTICLASS:
        raise DataError(
            f"{path}: --task multiclass allows at most {MAX_MULTICLASS} classes; column {target!r} has "
            f"{n_values} distinct values {where}"
        )


def _name_from_path(path: str) -> str:
    p = Path(path.rstrip("/\\"))
    stem = p.name
    if any(ch in stem for ch in "*?["):  # a glob: name it after its folder
        stem = p.parent.name
    for suffix in (*CSV_SUFFIXES, *PARQUET_SUFFIXES):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).lstrip("_.-")
    return cleaned if cleaned and _NAME.match(cleaned) else "my_job"


# --- how to write it ----------------------------------------------------------------------------------


def _y(value: Any) -> str:
    """A value as one line of YAML (flow style), quoted only where YAML needs it."""
    text = yaml.safe_dump(
        value, default_flow_style=True, width=2**31 - 1, allow_unicode=True, sort_keys=False
    )
    text = text.strip()
    return text.removesuffix("...").strip() if text.endswith("\n...") else text


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def blank(self) -> None:
        self.lines.append("")

    def prose(self, text: str, indent: int = 0) -> None:
        pad = " " * indent
        width = max(40, _WRAP - indent - 2)
        for line in textwrap.wrap(text, width=width, break_long_words=False, break_on_hyphens=False):
            self.lines.append(f"{pad}# {line}")

    def key(
        self, indent: int, text: str, comment: str = "", *, off: bool = False, block_off: bool = False
    ) -> None:
        """`key: value` at `indent`; off: commented out in place; block_off: inside a commented section."""
        if block_off:
            body = "# " + " " * indent + text
        elif off:
            body = " " * indent + "# " + text
        else:
            body = " " * indent + text
        if comment:
            fits = len(body) < _COMMENT_COL - 1
            body = f"{body.ljust(_COMMENT_COL - 1)} # {comment}" if fits else f"{body}  # {comment}"
        self.lines.append(body)

    def list_key(
        self, indent: int, key: str, values: list[str], comment: str = "", *, off: bool = False
    ) -> None:
        flow = _y(values)
        if len(flow) + indent + len(key) <= 100:
            self.key(indent, f"{key}: {flow}", comment, off=off)
            return
        self.key(indent, f"{key}:", comment, off=off)
        for v in values:
            self.key(indent + 2, f"- {_y(v)}", off=off)

    def text(self) -> str:
        return "\n".join(self.lines).rstrip() + "\n"


def _render(plan: _Plan) -> str:
    w = _Writer()
    w.prose(f"Recipe `{plan.name}` for mlscale, scaffolded by `mlscale init`: a {plan.task} XGBoost job.")
    for line in plan.header:
        w.prose(line)
    w.prose(
        "Check it, then: `mlscale validate RECIPE` and `mlscale run RECIPE` (add `--engine ray` for Ray). "
        "Lines like `# key: value` are optional settings: uncomment to use them. Reference: README.md, "
        "'Recipe reference'."
    )
    w.key(0, f"name: {_y(plan.name)}", "letters, digits, _ . -; also the default MLflow experiment")

    _render_data(w, plan)

    w.blank()
    w.prose(
        "Task: the kind of model, binary | multiclass | regression. Without it, mlscale infers the task "
        "from the target and logs the inference."
    )
    w.key(0, f"task: {plan.task}", plan.task_comment)
    for note in plan.task_notes:
        w.prose(note)

    w.blank()
    w.prose(
        "Train: one xgboost model (tree_method hist), early-stopped on the valid split. Any other xgboost "
        "parameter goes in train.params."
    )
    w.key(0, "train:")
    w.key(2, "num_boost_round: 1000", "most boosting rounds (early stopping usually ends sooner)")
    w.key(2, "early_stopping_rounds: 20", "stop when the valid metric stalls; null = train every round")
    w.key(2, "eta: 0.1", "learning rate: lower is slower and often better")
    w.key(2, "max_depth: 6", "tree depth: deeper fits more (and overfits sooner)")
    w.key(2, "min_child_weight: 2", "least hessian per leaf: higher is more conservative")
    w.key(
        2,
        f"eval_metric: {_y(DEFAULT_EVAL_METRIC[plan.task])}",
        "logged per round; early stopping uses the last",
    )
    w.key(2, "subsample: 0.8", "share of rows per tree", off=True)
    w.key(2, "colsample_bytree: 0.8", "share of columns per tree", off=True)
    w.key(2, "reg_lambda: 1.0", "L2 regularisation (also reg_alpha, gamma, max_bin)", off=True)
    w.key(
        2,
        "params: {grow_policy: lossguide, max_leaves: 63}",
        "any other xgboost parameter, passed through",
        off=True,
    )

    w.blank()
    w.prose(
        "Tune (optional): a hyperparameter search, each trial a nested MLflow run; the best trial's "
        "parameters train the final model. Engine local uses Optuna, ray uses Ray Tune: same space, same "
        "semantics. Uncomment to use."
    )
    w.key(0, "tune:", block_off=True)
    w.key(2, "num_samples: 16", "trials", block_off=True)
    w.key(
        2, f"metric: {DEFAULT_TUNE_METRIC[plan.task]}", "any valid_* metric; mode is inferred", block_off=True
    )
    w.key(2, "algorithm: tpe", "tpe (seeded Optuna TPE) | random", block_off=True)
    w.key(2, "scheduler: none", "none | asha: stop weak trials after grace_period rounds", block_off=True)
    w.key(2, "space:", block_off=True)
    w.key(4, "eta: {loguniform: [0.02, 0.3]}", block_off=True)
    w.key(4, "max_depth: {randint: [2, 10]}", "[low, high) like Ray Tune", block_off=True)
    w.key(4, "subsample: {uniform: [0.6, 1.0]}", block_off=True)
    w.key(4, "colsample_bytree: {uniform: [0.5, 1.0]}", block_off=True)
    w.key(4, "min_child_weight: {quniform: [1, 10, 1]}", block_off=True)

    _render_predict(w, plan)

    w.blank()
    w.prose(
        "Engine: where the same recipe runs. local = plain xgboost in this process; ray = a Ray cluster "
        "(or `mlscale run RECIPE --engine ray` without editing). Profiles (--profile) can override this "
        "section per environment."
    )
    w.key(0, "engine:")
    w.key(2, "name: local", "local | ray")
    w.key(2, "workers: 2", "ray: data-parallel xgboost workers, one per node by default", off=True)
    w.key(2, "cpus_per_worker: 2", "null = all the CPUs of a node", off=True)
    w.key(2, "gpus_per_worker: 1", "> 0 trains with device=cuda", off=True)
    w.key(2, "address: auto", "ray: null = a private local Ray; auto / host:port; ray://host:10001", off=True)
    w.key(2, "max_failures: 2", "ray: > 0 trains with Ray Train and retries from checkpoints", off=True)

    w.blank()
    w.prose(
        "MLflow: every run logs params, metrics, timings, plots and the model. Tracking store: "
        "$MLFLOW_TRACKING_URI, else tracking_uri, else sqlite:///mlflow.db in the working directory."
    )
    w.key(0, "mlflow:")
    w.key(2, f"experiment: {_y(plan.name)}")
    w.key(2, "tracking_uri: http://127.0.0.1:5000", "an MLflow server", off=True)
    w.key(2, f"registered_model: {_y(plan.name)}", "register each run's model under this name", off=True)
    return w.text()


def _render_data(w: _Writer, plan: _Plan) -> None:
    w.blank()
    w.prose(
        "Data: where the table comes from, the column to predict, and how rows are split into train / "
        "valid (early stopping, tuning) / test (final metrics, default predict input)."
    )
    w.key(0, "data:")
    if plan.source == "sklearn":
        w.key(2, "source: sklearn", "csv | parquet | sklearn | synthetic")
        w.key(2, f"dataset: {plan.dataset}", "breast_cancer, wine, digits, diabetes, iris")
        w.prose(f"{DEMO_DATASETS[plan.task][1].capitalize()}.", indent=2)
        w.prose(
            "Your own table instead: source csv or parquet, path (a file, a directory or a glob) and "
            "target (its column).",
            indent=2,
        )
        w.key(2, f"target: {_y(plan.target)}", plan.target_comment)
    else:
        w.key(2, f"source: {plan.source}", "csv | parquet | sklearn | synthetic")
        w.key(2, f"path: {_y(plan.path)}", "a file, a directory or a glob; relative to where you run mlscale")
        w.key(2, f"target: {_y(plan.target)}", plan.target_comment)
        for note in plan.target_notes:
            w.prose(note, indent=2)
        if plan.exclude:
            w.list_key(2, "exclude", plan.exclude, "never features: id columns, empty columns, leakage")
        else:
            w.key(2, "exclude: [id_column]", "columns that must not be features (ids, leakage)", off=True)
        if plan.missing_target:
            w.key(2, "missing_target: drop", "rows without a target are left out and counted; or error")
        else:
            w.key(
                2,
                "missing_target: drop",
                "rows without a target are left out and counted; or error",
                off=True,
            )
        kept = [c for c in plan.all_features if c not in plan.exclude]
        flow = _y(kept)
        if len(flow) <= 90:
            w.key(2, f"features: {flow}", "default: every column but the target and exclude", off=True)
        else:
            w.prose(f"Features: by default all {len(kept)} columns but the target and exclude.", indent=2)
        if plan.categorical:
            w.list_key(2, "categorical", plan.categorical, "text columns")
            w.key(
                2,
                "categorical_encoding: auto",
                "native up to 32 levels, ordinal codes above; or native | ordinal | frequency",
            )
        else:
            w.key(2, "categorical: []", "none detected (no text columns); list integer codes here", off=True)
        for note in plan.data_notes:
            w.prose(note, indent=2)
    if plan.split_column:
        w.key(2, f"split: {{column: {_y(plan.split_column)}}}", "rows labelled train / valid / test")
    else:
        w.key(
            2,
            "split: {valid: 0.15, test: 0.15, seed: 42}",
            "random (stratified for classification); or {column: COL}",
        )
    w.key(
        2, "preprocess: my_pkg.prep:clean", "your function(DataFrame) -> DataFrame, by import path", off=True
    )


def _render_predict(w: _Writer, plan: _Plan) -> None:
    w.blank()
    w.prose(
        "Predict: batch inference with the trained model, streamed in batches and written atomically. "
        "Without input it scores the test split. Delete the section to train only."
    )
    w.key(0, "predict:")
    w.key(
        2, f"output: {_y(f'output/{plan.name}/predictions.parquet')}", ".parquet or .csv; plots/ go beside it"
    )
    if plan.source == "sklearn":
        w.key(2, f"id_columns: {_y([plan.target])}", "passed through: here the truth, to compare")
    elif plan.ids:
        w.list_key(2, "id_columns", plan.ids, plan.id_comment)
    else:
        w.key(2, "id_columns: []", plan.id_comment)
    w.key(
        2, "input: data/new.parquet", "a file / directory / glob to score; default: the test split", off=True
    )
    w.key(2, "batch_size: 65536", off=True)
    w.key(2, "model: runs:/RUN_ID/model", "default: this run's model; or models:/NAME/VERSION", off=True)


def _self_check(text: str, plan: _Plan) -> None:
    """The text must be a valid recipe that says what the plan says (guards quoting of odd names)."""
    from mlscale.recipe.load import validate

    recipe = validate(yaml.safe_load(text), source="mlscale init")
    if recipe.data.target != plan.target or recipe.task != plan.task or recipe.name != plan.name:
        raise AssertionError("mlscale init wrote a recipe that does not match its plan")  # pragma: no cover
