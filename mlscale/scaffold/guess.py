"""`mlscale init`'s guesses from a sample: the target, id and split columns, the task a target allows,
the recipe name; each with the rule `mlscale run` applies where there is one (`mlscale.data`)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from mlscale.data import CSV_SUFFIXES, MAX_MULTICLASS, PARQUET_SUFFIXES, is_numeric_target, is_text_column
from mlscale.errors import DataError
from mlscale.recipe.schema import Recipe

# Column names (compared case-insensitively) that usually hold what a table is meant to predict, best first.
TARGET_NAMES = (
    "target",
    "label",
    "labels",
    "y",
    "class",
    "outcome",
    "churn",
    "churned",
    "response",
    "survived",
    "default",
    "fraud",
    "is_fraud",
    "diagnosis",
)
MAX_CANDIDATES = 5
FEW_LABELS = 10  # a text column with 3 to this many values may be a label to predict
_ID_NAMES = {"id", "uuid", "guid", "index", "unnamed: 0", "row", "rowid", "row_number", "rownum"}


def _name_pattern() -> re.Pattern[str]:
    """The recipe name rule, taken from the schema so there is one definition."""
    for meta in Recipe.model_fields["name"].metadata:
        pattern = getattr(meta, "pattern", None)
        if pattern:
            return re.compile(pattern)
    raise AssertionError("Recipe.name has no pattern")  # pragma: no cover


NAME = _name_pattern()


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


def split_column(frame: pd.DataFrame) -> str | None:
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
    return n >= 2 and (is_numeric_target(s) or n <= MAX_MULTICLASS)


def _named_like_a_target(column: str) -> bool:
    """A word of the name is a target name: churn_flag, is_fraud, loanDefault ('y' only as the whole name)."""
    words = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+", column)
    return any(w.lower() in TARGET_NAMES and len(w) > 1 for w in words)


def guess_target(frame: pd.DataFrame, exclude: list[str]) -> tuple[str, str, list[str]]:
    """(target, why, other candidates) from column names, else the last plausible column. Candidates, in
    this order, at most `MAX_CANDIDATES`: columns named like a target, the last column, columns with a word
    of a target name, two-valued columns (yes/no, 0/1), text columns of a few labels (`FEW_LABELS`)."""
    columns = [c for c in frame.columns if c not in exclude]
    lower = {c.lower(): c for c in reversed(columns)}  # first column wins on a case-only clash
    named = [lower[n] for n in TARGET_NAMES if n in lower]
    if named:
        target, why = named[0], "guessed from its name"
    else:
        plausible = [c for c in columns if _plausible_target(frame[c])]
        target = (plausible or columns)[-1]
        why = "guessed: the last column" if target == columns[-1] else "guessed: the last usable column"
    distinct = {c: int(frame[c].nunique(dropna=True)) for c in columns}
    others = [
        *named,
        columns[-1],
        *(c for c in columns if _named_like_a_target(str(c))),
        *(c for c in columns if distinct[c] == 2),
        *(c for c in columns if is_text_column(frame[c]) and 2 < distinct[c] <= FEW_LABELS),
    ]
    kept = [c for c in dict.fromkeys(others) if c != target and _plausible_target(frame[c])]
    return target, why, kept[:MAX_CANDIDATES]


def check_task(path: str, task: str, target: str, y: pd.Series, n_values: int, where: str) -> None:
    """Refuse a --task the target cannot have (the rules `mlscale.data.prepare` applies at run time)."""
    if task == "regression" and not is_numeric_target(y):
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


def name_from_path(path: str) -> str:
    p = Path(path.rstrip("/\\"))
    stem = p.name
    if any(ch in stem for ch in "*?["):  # a glob: name it after its folder
        stem = p.parent.name
    for suffix in (*CSV_SUFFIXES, *PARQUET_SUFFIXES):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).lstrip("_.-")
    return cleaned if cleaned and NAME.match(cleaned) else "my_job"
