"""Column typing (numeric / categorical / datetime / text) and the datetime and text features, on small
in-memory tables: decided on the training data, stored with the model, applied the same way at predict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlscale import DataError, RecipeError
from mlscale.assess.explanations import contribution_frame, explanation
from mlscale.data import FeatureSchema, encoding_table, prepare
from mlscale.data.column_types import auto_type
from mlscale.modeling.model import Model
from mlscale.recipe import Recipe, load_recipe
from mlscale.recipe.load import validate

SRC = "r.yaml"
ROOT = Path(__file__).resolve().parents[2]
WORDS = [
    "broken",
    "screen",
    "battery",
    "fast",
    "slow",
    "delivery",
    "great",
    "poor",
    "value",
    "price",
    "works",
    "fine",
    "returned",
    "refund",
]


def recipe(**data: Any) -> Recipe:
    return validate({"name": "t", "data": {"source": "csv", "path": "unused.csv", **data}}, source=SRC)


def table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D")
    remarks = [" ".join(rng.choice(WORDS, size=rng.integers(3, 8))) for _ in range(n)]
    frame = pd.DataFrame(
        {
            "num": rng.normal(size=n),
            "us_date": [f"{d.month}/{d.day}/{d.year}" for d in days],
            "iso_time": [
                f"{d:%Y-%m-%d} {h:02d}:30:00" for d, h in zip(days, rng.integers(0, 24, n), strict=True)
            ],
            "remarks": remarks,
            "colour": rng.choice(["red", "green", "blue"], n),
            "code": [f"{i:08d}" for i in rng.integers(0, 10**8, n)],  # digits only: an id, never a date
        }
    )
    frame["y"] = frame["remarks"].str.contains("broken").astype(int)
    return frame


def test_auto_types_by_the_documented_rules() -> None:
    t = table()
    got = {col: auto_type(t[col]) for col in t.columns if col != "y"}
    assert got == {
        "num": ("numeric", None),
        "us_date": ("datetime", "%m/%d/%Y"),
        "iso_time": ("datetime", "ISO8601"),
        "remarks": ("text", None),
        "colour": ("categorical", None),
        "code": ("categorical", None),
    }
    assert auto_type(pd.Series(pd.to_datetime(t["us_date"], format="%m/%d/%Y"))) == ("datetime", "ISO8601")


def test_titles_and_tag_lists_stay_categorical() -> None:
    """Many distinct values but not several words each: two-word titles, `A|B|C` tag lists."""
    rng = np.random.default_rng(0)
    titles = pd.Series(
        [f"{a} {b}" for a, b in rng.choice(WORDS, (400, 2))] + ["Thing from Another World, The"]
    )
    tags = pd.Series(["|".join(rng.choice(WORDS, rng.integers(2, 6))) for _ in range(400)])
    assert titles.nunique() > 100 and tags.nunique() > 100
    assert auto_type(titles) == auto_type(tags) == ("categorical", None)
    assert auto_type(tags.str.replace("|", " ")) == ("text", None)


def test_a_table_without_dates_or_text_keeps_its_features() -> None:
    t = table().drop(columns=["us_date", "iso_time", "remarks"])
    ds = prepare(recipe(target="y"), t, source=SRC)
    assert ds.schema.derived == {} and "derived" not in ds.schema.to_dict()
    assert list(ds.x_train.columns) == ds.schema.features == ["num", "colour", "code"]
    assert not any(n.startswith("column types") for n in ds.notes)


@pytest.mark.parametrize("path", sorted((ROOT / "recipes").glob("*.yaml")), ids=lambda p: p.stem)
def test_the_shipped_recipes_give_the_same_feature_list(path: Path) -> None:
    r = load_recipe(path)
    if r.data.synthetic is not None:  # the same columns from fewer rows
        r = r.model_copy(
            update={
                "data": r.data.model_copy(
                    update={"synthetic": r.data.synthetic.model_copy(update={"n_rows": 500})}
                )
            }
        )
    ds = prepare(r, source=str(path))
    assert ds.schema.derived == {}
    assert list(ds.x_train.columns) == ds.schema.features
    assert ds.schema.model_features == ds.schema.features


def test_types_are_printed_logged_and_stored_with_the_model() -> None:
    ds = prepare(recipe(target="y"), table(), source=SRC)
    assert (
        "column types: us_date datetime (%m/%d/%Y, 6 features), iso_time datetime (ISO8601, 7 features)"
        in "".join(ds.notes)
    )
    assert "remarks text (" in ds.notes[-1]
    rows = {r["column"]: r for r in encoding_table(ds.schema)}
    assert rows["iso_time"]["features"][-2:] == ["iso_time__hour", "iso_time__days"]
    assert rows["remarks"]["type"] == "text" and rows["colour"]["encoding"] == "native"
    again = FeatureSchema.from_dict(json.loads(json.dumps(ds.schema.to_dict())))
    pd.testing.assert_frame_equal(again.frame(table(50, seed=1))[0], ds.schema.frame(table(50, seed=1))[0])


def test_datetime_features_missing_stays_missing_and_unparseable_becomes_missing() -> None:
    ds = prepare(recipe(target="y"), table(), source=SRC)
    new = table(4, seed=2).astype({"us_date": object, "iso_time": object})
    new.loc[0, ["us_date", "iso_time"]] = ["7/4/2021", "2021-07-04 18:30:00"]
    new.loc[1, ["us_date", "iso_time"]] = [None, None]
    new.loc[2, ["us_date", "iso_time"]] = ["not a date", "31/31/2021"]
    x, _ = ds.schema.frame(new)
    assert x.loc[0, ["us_date__year", "us_date__month", "us_date__day", "us_date__day_of_week"]].tolist() == [
        2021,
        7,
        4,
        6,
    ]
    assert x.loc[0, "us_date__day_of_year"] == 185 and x.loc[0, "iso_time__hour"] == 18
    assert x.loc[0, "us_date__days"] == (pd.Timestamp("2021-07-04") - pd.Timestamp("1970-01-01")).days
    date_columns = [c for c in x.columns if c.startswith(("us_date__", "iso_time__"))]
    assert x.loc[[1, 2], date_columns].isna().all().all()
    assert x.loc[3, date_columns].notna().all()


def test_text_vocabulary_is_fitted_on_the_train_split_only() -> None:
    t = table()
    r = recipe(target="y", split={"valid": 0.2, "test": 0.2, "seed": 0})
    ds = prepare(r, t, source=SRC)
    test_only = ds.split_rows["test"][0]
    t.loc[test_only, "remarks"] = "zyzzyva zyzzyva zyzzyva broken"
    ds2 = prepare(r, t, source=SRC)
    names = [n for n in ds2.schema.model_features if n.startswith("remarks__")]
    assert "remarks__tok_zyzzyva" not in names and "remarks__tok_broken" in names
    assert len(names) == len(set(names)) and all(
        n.replace("__", "_").replace("_", "").isalnum() for n in names
    )
    new = pd.DataFrame({**{c: t[c].iloc[:2] for c in t.columns}}).reset_index(drop=True)
    new.loc[0, "remarks"], new.loc[1, "remarks"] = "Broken BROKEN unseenword", None
    x, _ = ds2.schema.frame(new)
    assert x.loc[0, "remarks__tok_broken"] == 2 and x.loc[0, "remarks__words"] == 3
    assert x.loc[1, names].isna().all()


def test_column_types_override_and_its_errors() -> None:
    t = table()
    ds = prepare(
        recipe(target="y", column_types={"remarks": "categorical", "num": "categorical", "code": "numeric"}),
        t,
        source=SRC,
    )
    assert "remarks" in ds.schema.categories and "num" in ds.schema.categories
    assert "code" not in ds.schema.categories and ds.x_train["code"].dtype.kind in "iuf"
    assert set(ds.schema.derived) == {"us_date", "iso_time"}
    ds = prepare(recipe(target="y", column_types={"us_date": "text"}), t, source=SRC)
    assert ds.schema.derived["us_date"].kind == "text"
    ds = prepare(recipe(target="y", categorical=["us_date", "colour", "code"]), t, source=SRC)
    assert "us_date" in ds.schema.categories and set(ds.schema.derived) == {"iso_time", "remarks"}
    with pytest.raises(
        DataError,
        match=r"^r.yaml: data.column_types: column 'remark' is not a feature \(did you mean 'remarks'\?\)$",
    ):
        prepare(recipe(target="y", column_types={"remark": "text"}), t, source=SRC)
    with pytest.raises(DataError, match=r"data.column_types: column 'colour' is not dates in one format"):
        prepare(recipe(target="y", column_types={"colour": "datetime"}), t, source=SRC)
    with pytest.raises(RecipeError, match=r"column_types"):
        recipe(target="y", column_types={"remarks": "words"})


def test_explain_gives_each_derived_feature_and_their_sum_per_column() -> None:
    import xgboost as xgb

    t = table()
    schema = prepare(recipe(target="y"), t, source=SRC).schema
    x, _ = schema.frame(t)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "nthread": 1},
        xgb.DMatrix(x, label=t["y"], enable_categorical=True),
        10,
    )
    model = Model(booster, schema)
    out, _ = contribution_frame(model, t.head(20))
    parts = [c for c in out.columns if c.startswith("shap_remarks__")]
    assert len(parts) == len(schema.derived["remarks"].names("remarks"))
    np.testing.assert_allclose(out["shap_remarks"], out[parts].sum(axis=1), rtol=1e-6)
    margin = booster.predict(xgb.DMatrix(x.head(20), enable_categorical=True), output_margin=True)
    summed = out[[f"shap_{n}" for n in schema.model_features] + ["shap_bias"]].sum(axis=1)
    np.testing.assert_allclose(summed, margin, rtol=1e-4, atol=1e-4)
    exp = explanation(
        schema, np.asarray(out[[f"shap_{n}" for n in [*schema.model_features, "bias"]]]), x.head(20)
    )
    assert exp.by_column[0].feature == "remarks" and {e.feature for e in exp.by_column} == {
        "remarks",
        "us_date",
        "iso_time",
    }


def test_a_predict_file_reads_text_columns_as_text(tmp_path: Path) -> None:
    """A csv column of `10.50` only is a number to Arrow (10.5: one word fewer) but text to the model."""
    from mlscale.data import iter_input_batches

    t = table()
    t["remarks"] = t["remarks"] + " 10.50"
    schema = prepare(recipe(target="y"), t, source=SRC).schema
    t.assign(remarks="10.50").head(3).to_csv(tmp_path / "new.csv", index=False)
    _, batches = iter_input_batches(
        str(tmp_path / "new.csv"), batch_size=10, where="new", text_columns=schema.text_columns
    )
    x, _ = schema.frame(next(iter(batches)).to_pandas())
    assert x["remarks__tok_50"].tolist() == [1, 1, 1] and x["remarks__words"].tolist() == [2, 2, 2]
