"""Categorical values and encodings: one canonical text per value, per-column encodings, numeric coercion."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlscale import DataError
from mlscale.data import FeatureSchema, prepare
from mlscale.data.categories import AUTO_NATIVE_MAX_LEVELS, canonical, codes, levels
from mlscale.recipe import Recipe
from mlscale.recipe.load import validate

SRC = "r.yaml"


def recipe(**data: Any) -> Recipe:
    return validate({"name": "t", "data": {"source": "csv", "path": "unused.csv", **data}}, source=SRC)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1, "1"),
        (np.int64(1), "1"),
        (1.0, "1"),
        (np.float32(1.0), "1"),
        (np.float32(0.1), "0.1"),
        (0.1, "0.1"),
        (-2.5, "-2.5"),
        (True, "True"),
        (np.bool_(False), "False"),
        ("1.0", "1.0"),  # text stays text
        ("red", "red"),
        (None, None),
        (float("nan"), None),
        (pd.NA, None),
    ],
)
def test_canonical_text(value: Any, text: str | None) -> None:
    assert canonical(value) == text


def test_integer_codes_with_a_missing_value_in_training_match_plain_integers_at_predict() -> None:
    train = pd.DataFrame({"store": [1, 2, np.nan, 3] * 25, "y": [0, 1] * 50})  # float64: 1.0, 2.0, NaN
    ds = prepare(recipe(target="y", categorical=["store"]), train, source=SRC)
    assert ds.schema.categories["store"] == ["1", "2", "3"]
    new = pd.DataFrame({"store": np.array([1, 2, 3, 1] * 125, dtype=np.int64)})  # 500 rows, no NaN
    x, unseen = ds.schema.frame(new)
    assert unseen == {}
    assert x["store"].isna().sum() == 0
    one_null = pd.DataFrame({"store": [1.0, np.nan, 3.0]})  # a batch with one null reads as float
    x, unseen = ds.schema.frame(one_null)
    assert unseen == {}
    assert x["store"].tolist()[0] == "1" and x["store"].tolist()[2] == "3"


def test_text_in_a_numeric_column_is_coerced_whatever_its_dtype() -> None:
    train = pd.DataFrame({"a": np.arange(100, dtype=float), "y": [0, 1] * 50})
    schema = prepare(recipe(target="y"), train, source=SRC).schema
    for dtype in (object, "string", "str"):
        x, _ = schema.frame(pd.DataFrame({"a": pd.Series(["1.5", "?", None], dtype=dtype)}))
        assert x["a"].dtype.kind == "f", dtype
        assert x["a"].tolist()[0] == 1.5 and np.isnan(x["a"].tolist()[1]) and np.isnan(x["a"].tolist()[2])
    x, _ = schema.frame(pd.DataFrame({"a": pd.array([1, None, 3], dtype="Int64")}))
    assert x["a"].dtype == np.float64 and np.isnan(x["a"][1])


def test_codes_hash_each_distinct_value_once_and_mark_unseen_and_missing() -> None:
    index = {"a": 0, "b": 1}
    out = codes(pd.Series(["b", "a", None, "z", "b"]), index)
    assert out.tolist() == [1, 0, -1, -1, 1]
    cat = pd.Series(pd.Categorical(["b", None, "a"], categories=["a", "b", "c"]))
    assert codes(cat, index).tolist() == [1, -1, 0]


def test_ordered_categorical_keeps_its_order() -> None:
    s = pd.Series(
        pd.Categorical(["good", "fair", "ideal"], categories=["fair", "good", "ideal"], ordered=True)
    )
    assert levels(s) == ["fair", "good", "ideal"]
    assert levels(s.astype(object)) == ["fair", "good", "ideal"]  # sorted, by chance the same here
    unordered = pd.Series(["b", "a", None, "b"])
    assert levels(unordered) == ["a", "b"]


def _table(n_levels: int, rows: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "few": rng.choice(["x", "y", "z"], rows),
            "many": [f"id{i % n_levels}" for i in range(rows)],
            "num": rng.normal(size=rows),
            "y": rng.integers(0, 2, rows),
        }
    )


def test_auto_encoding_is_native_for_few_levels_and_ordinal_above_the_threshold() -> None:
    ds = prepare(recipe(target="y"), _table(AUTO_NATIVE_MAX_LEVELS + 1), source=SRC)
    assert ds.schema.encodings == {"few": "native", "many": "ordinal"}
    assert isinstance(ds.x_train["few"].dtype, pd.CategoricalDtype)
    assert ds.x_train["many"].dtype == np.float32
    assert "categorical encoding: few native (3 levels), many ordinal (33 levels)" in ds.notes
    at_threshold = prepare(recipe(target="y"), _table(AUTO_NATIVE_MAX_LEVELS), source=SRC)
    assert at_threshold.schema.encodings["many"] == "native"


def test_encoding_overrides_and_frequency_values() -> None:
    r = recipe(target="y", categorical_encoding="ordinal", column_encoding={"many": "frequency"})
    ds = prepare(r, _table(4), source=SRC)
    assert ds.schema.encodings == {"few": "ordinal", "many": "frequency"}
    shares = ds.schema.frequencies["many"]
    assert len(shares) == 4 and abs(sum(shares) - 1) < 1e-6
    x, unseen = ds.schema.frame(pd.DataFrame({"few": ["x", "q"], "many": ["id1", "nope"], "num": [0.0, 1.0]}))
    assert x["few"].tolist()[0] == 0.0 and np.isnan(x["few"].tolist()[1])
    assert x["many"].tolist()[0] == pytest.approx(shares[1]) and np.isnan(x["many"].tolist()[1])
    assert unseen == {"few": 1, "many": 1}


def test_encodings_survive_the_saved_schema() -> None:
    ds = prepare(recipe(target="y", column_encoding={"many": "frequency"}), _table(40), source=SRC)
    again = FeatureSchema.from_dict(ds.schema.to_dict())
    assert again == ds.schema
    old = {k: v for k, v in ds.schema.to_dict().items() if k not in ("encodings", "frequencies")}
    assert FeatureSchema.from_dict(old).encoding("many") == "native"  # models saved before encodings


def test_column_encoding_must_name_a_categorical_feature() -> None:
    with pytest.raises(DataError, match=r"data.column_encoding: column 'num' is not a categorical feature"):
        prepare(recipe(target="y", column_encoding={"num": "ordinal"}), _table(4), source=SRC)


def test_exclude_leaves_columns_out_and_names_unknown_ones() -> None:
    ds = prepare(recipe(target="y", exclude=["many"]), _table(4), source=SRC)
    assert ds.schema.features == ["few", "num"]
    with pytest.raises(DataError, match=r"data.exclude: column 'mny' not found \(did you mean 'many'\?\)"):
        prepare(recipe(target="y", exclude=["mny"]), _table(4), source=SRC)


def test_values_past_float32_range_are_missing_like_inf() -> None:
    """xgboost stores features as float32: 1e300 became inf there and training failed with its traceback
    (found by the property-based corpus)."""
    train = pd.DataFrame({"a": [1e300, np.nan, 0.5, -1e39, 2.0] * 10, "y": [0, 1] * 25})
    ds = prepare(recipe(target="y"), train, source=SRC)
    column = ds.schema.frame(train)[0]["a"]
    assert column.isna().sum() == 30 and column.max() == 2.0
