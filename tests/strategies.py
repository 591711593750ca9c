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


# --- addresses, URIs and paths for the trust rule (tests/unit/test_trust_property.py) ---------------------

HOSTS = [
    "127.0.0.1",
    "127.9.8.7",
    "localhost",
    "LocalHost",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "127.1",
    "0x7f.0.0.1",
    "127.0.0.1.evil.example",
    "evil",
    "10.1.2.3",
    "[fe80::1%25eth0]",
    "\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54",  # fullwidth localhost
    "名前.example",
    "xn--evil",
    "evil.example.",
    "",
]
TRICKS = [*"\\@#?/:\t\n []\u3002\uff03\u202e", "%40", "%5C"]
"""Characters on which URL parsers are known to disagree, or that a person misreads."""


@st.composite
def authorities(draw: Any) -> str:
    """[user[:password]@]host[:port], with tricks spliced in anywhere (in about half of them)."""
    text = draw(st.sampled_from(HOSTS))
    if draw(st.integers(0, 3)) > 0:
        text += ":" + draw(st.sampled_from(["5000", "6379", "10001", "8265", "0", "99999", "x", ""]))
    if draw(st.integers(0, 2)) == 0:
        user = draw(st.sampled_from(["alice", "alice:pw", "evil:8001", "a@b", "", "é:ü"]))
        text = f"{user}@{text}"
    for _ in range(draw(st.sampled_from([0, 0, 1, 2]))):
        at = draw(st.integers(min_value=0, max_value=len(text)))
        piece = draw(st.sampled_from(TRICKS) | st.sampled_from(HOSTS) | st.text(max_size=2))
        text = text[:at] + piece + text[at:]
    return text


@st.composite
def uris(draw: Any) -> str:
    """A tracking or storage URI, or a path: what mlflow.tracking_uri / engine.ray.storage_path may hold."""
    scheme = draw(
        st.sampled_from(["http", "https", "HTTP", "s3", "sqlite", "file", "databricks", "postgresql"])
    )
    path = draw(st.sampled_from(["", "/", "/api", "/a\\b", "/%2e%2e/x", "?q=1", "#f"]))
    shapes = ["{s}://{a}{p}"] * 4 + ["{s}:{a}{p}", "{s}:\\\\{a}{p}", "{a}{p}", "/tmp/{a}"]
    return draw(st.sampled_from(shapes)).format(s=scheme, a=draw(authorities()), p=path)


@st.composite
def cluster_addresses(draw: Any) -> str:
    """What engine.ray.address may hold: auto, host:port, ray://host:port, and near misses."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(["auto", "local"]))
    shapes = ["{a}"] * 3 + ["ray://{a}"] * 3 + ["http://{a}", "{a}/x", "ray://{a}?x"]
    return draw(st.sampled_from(shapes)).format(a=draw(authorities()))


def relative_paths() -> Any:
    """Output paths: `..`, `.`, unicode, absolute, through a symlink named `link` (made by the test)."""
    part = st.sampled_from(["..", ".", "a", "é", "名前", "link", "out", "p.parquet", " x", ""])
    prefix = st.sampled_from(["", "/", "/tmp/", "./", "../"])
    return st.builds(
        lambda head, parts: head + "/".join(parts), prefix, st.lists(part, min_size=1, max_size=5)
    )
