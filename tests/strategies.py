"""Hypothesis strategies shared by the property corpus (tests/unit/test_property.py) and its engine
agreement check (tests/integration/test_property_engines.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from hypothesis import strategies as st

names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=8
) | st.sampled_from(["a b", "income ($)", "x[0]", "é", "名前", "target ", "0", "nan"])


@st.composite
def tables(draw: Any) -> tuple[pd.DataFrame, str | None]:
    n = draw(st.integers(min_value=1, max_value=60))
    rng = np.random.default_rng(draw(st.integers(min_value=0, max_value=10**6)))
    columns: dict[str, Any] = {}
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        kind = draw(st.sampled_from(["float", "float_odd", "int", "bool", "text", "many_text", "empty"]))
        values: Any
        if kind == "float":
            values = rng.normal(size=n)
        elif kind == "float_odd":
            values = rng.choice([0.5, np.nan, np.inf, -np.inf, 1e300], n)
        elif kind == "int":
            values = rng.integers(-3, 3, n)
        elif kind == "bool":
            values = rng.choice([True, False], n)
        elif kind == "text":
            values = rng.choice(["a", "b", "ü", "", None], n)
        elif kind == "many_text":
            values = [f"id{i}" for i in range(n)]
        else:
            values = [np.nan] * n
        columns[draw(names)] = values
    target_kind = draw(st.sampled_from(["binary", "multi", "float", "one", "text", "missing"]))
    target = {
        "binary": lambda: rng.integers(0, 2, n),
        "multi": lambda: rng.integers(0, 4, n),
        "float": lambda: rng.normal(size=n),
        "one": lambda: np.ones(n),
        "text": lambda: rng.choice(["yes", "no"], n),
        "missing": lambda: rng.choice([1.0, 0.0, np.nan], n),
    }[target_kind]()
    columns["label"] = target
    task = draw(st.sampled_from([None, "binary", "multiclass", "regression"]))
    return pd.DataFrame(columns), task


def case_recipe(task: str | None) -> dict[str, Any]:
    """The recipe every generated table is trained with: two rounds, no early stopping."""
    raw: dict[str, Any] = {"name": "t", "data": {"source": "csv", "path": "unused.csv", "target": "label"},
                           "train": {"num_boost_round": 2, "early_stopping_rounds": None}}  # fmt: skip
    if task:
        raw["task"] = task
    return raw
