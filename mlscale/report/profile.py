"""What only the run knows (the Dataset): the data profile section and a constant-prediction baseline.

Logged with the run (report/data/section.json and constant_* metrics), so `mlscale report RUN` rebuilds
the page from MLflow alone.
"""

from __future__ import annotations

import numpy as np

from mlscale.data import Dataset
from mlscale.modeling.metrics import compute, prefixed
from mlscale.report.section import ReportSection, ReportTable, Scalar

DATA_ORDER = 20
SPLITS = ("train", "valid", "test")


def profile_section(data: Dataset) -> ReportSection:
    """Rows per split; per column its type, missing share (all splits) and cardinality (train split), and
    for a categorical column the encoding chosen; class shares per split for a classification target."""
    schema = data.schema
    frames = {"train": data.x_train, "valid": data.x_valid, "test": data.x_test}
    rows_total = sum(len(f) for f in frames.values())
    # a datetime / text column is missing where its first model-input column is (year, word count)
    first = {col: next(n for n, c in schema.sources.items() if c == col) for col in schema.features}
    missing = {col: sum(int(f[first[col]].isna().sum()) for f in frames.values()) for col in schema.features}
    columns: list[list[Scalar]] = []
    for col in schema.features:
        values = data.x_train[first[col]]
        categorical = col in schema.categories
        derived = schema.derived.get(col)
        columns.append(
            [
                col,
                "categorical" if categorical else type(derived).kind if derived else str(values.dtype),
                missing[col] / max(rows_total, 1),
                len(schema.categories[col]) if categorical else int(values.nunique(dropna=True)),
                schema.encoding(col)
                if categorical
                else f"{len(derived.names(col))} features"
                if derived
                else "",
            ]
        )
    tables = [
        ReportTable(
            title="Rows per split",
            columns=["split", "rows"],
            rows=[[name, len(frame)] for name, frame in frames.items()],
        ),
        ReportTable(
            title="Columns",
            columns=["column", "type", "missing share", "cardinality (train)", "encoding"],
            rows=columns,
        ),
    ]
    if schema.task != "regression" and schema.classes:
        tables.append(_class_table(data))
    notes = [
        f"target {schema.target!r}, task {schema.task}"
        f"{' (inferred)' if data.task_inferred else ''}, {len(schema.features)} features"
    ]
    if data.missing_target_dropped:
        notes.append(f"{data.missing_target_dropped:,} row(s) with a missing target left out")
    notes += list(data.notes)
    notes += [s.warning(schema.target).removeprefix("data: ") for s in data.leak_suspects]
    return ReportSection(title="Data", order=DATA_ORDER, notes=notes, tables=tables)


def _class_table(data: Dataset) -> ReportTable:
    classes = data.schema.classes or []
    ys = {"train": data.y_train, "valid": data.y_valid, "test": data.y_test}
    shares = {
        name: np.bincount(y.astype(np.int64), minlength=len(classes)) / max(len(y), 1)
        for name, y in ys.items()
    }
    rows: list[list[Scalar]] = [
        [str(c), *(float(shares[s][i]) for s in SPLITS)] for i, c in enumerate(classes)
    ]
    return ReportTable(title="Class shares", columns=["class", *SPLITS], rows=rows)


def constant_baseline(data: Dataset) -> dict[str, float]:
    """The scores of predicting the train split's class shares (or mean) for every row: constant_<split>_*."""
    y = data.y_train
    task = data.schema.task
    if task == "regression":
        value: np.ndarray = np.array(float(np.mean(y)) if len(y) else 0.0)
    elif task == "binary":
        value = np.array(float(np.mean(y)) if len(y) else 0.5)
    else:
        value = np.bincount(y.astype(np.int64), minlength=data.num_class) / max(len(y), 1)
    out: dict[str, float] = {}
    for split, truth in (("valid", data.y_valid), ("test", data.y_test)):
        if len(truth):
            raw = np.broadcast_to(value, (len(truth), *value.shape)).copy()
            out.update(prefixed(f"constant_{split}", compute(task, truth, raw)))
    return out
