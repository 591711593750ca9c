"""The `target` encoding: out-of-fold statistics on the train rows, stored full-train statistics elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlscale import DataError
from mlscale.data import FeatureSchema, prepare
from mlscale.data.target_stats import fit_column, smoothed
from mlscale.modeling.model import Model
from mlscale.recipe import Recipe
from mlscale.recipe.load import validate

SRC = "r.yaml"


def recipe(task: str | None = "binary", **data: Any) -> Recipe:
    body = {"name": "t", "task": task, "data": {"source": "csv", "path": "unused.csv", **data}}
    return validate(body, source=SRC)


def _table(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """`shop` (40 levels) sets the rate of y; `id` is unique per row (carries nothing); `x` is noise."""
    rng = np.random.default_rng(seed)
    shop = rng.integers(0, 40, n)
    rate = 0.1 + 0.8 * (shop % 5) / 4
    return pd.DataFrame(
        {
            "shop": [f"s{s}" for s in shop],
            "id": [f"id{i}" for i in range(n)],
            "x": rng.normal(size=n),
            "y": (rng.random(n) < rate).astype(int),
        }
    )


def test_a_unique_id_column_gets_the_prior_on_train_rows_not_the_target() -> None:
    ds = prepare(recipe(target="y", categorical_encoding="target"), _table(), source=SRC)
    prior = ds.y_train.mean()
    train_ids = ds.x_train["id"].to_numpy()
    assert np.allclose(train_ids, prior, atol=0.02)  # each row's id is in its held-out fold only
    assert abs(np.corrcoef(train_ids, ds.y_train)[0, 1]) < 0.1
    # an informative column's out-of-fold values follow the target
    assert np.corrcoef(ds.x_train["shop"].to_numpy(), ds.y_train)[0, 1] > 0.4
    # valid rows use the full-train statistics: their ids were never in train, so they get the prior too
    assert np.allclose(ds.x_valid["id"].to_numpy(), prior, atol=1e-6)


def test_out_of_fold_values_never_use_their_own_row() -> None:
    codes = np.array([0, 0, 1, 1, 2])
    y = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    fitted = fit_column(codes, y, 3, seed=0)
    full = smoothed(codes, y, 3)
    assert fitted.stored == pytest.approx(full.tolist())
    assert len(fitted.stored) == 4 and fitted.stored[-1] == pytest.approx(y.mean())  # the prior last
    # level 2 has a single row: out of fold it has no other row, so it gets its fold's prior, not its 0
    assert fitted.train_values[4] > 0.5


def test_unseen_levels_get_the_prior_and_missing_values_stay_missing() -> None:
    ds = prepare(recipe(target="y", column_encoding={"shop": "target"}), _table(), source=SRC)
    assert ds.schema.encodings == {"shop": "target", "id": "ordinal"}
    stats = ds.schema.target_stats["shop"]
    x, unseen = ds.schema.frame(
        pd.DataFrame({"shop": ["s3", "never", None], "id": ["a", "b", "c"], "x": 0.0})
    )
    values = x["shop"].tolist()
    assert values[0] == pytest.approx(stats[ds.schema.categories["shop"].index("s3")])
    assert values[1] == pytest.approx(stats[-1]) and stats[-1] == pytest.approx(ds.y_train.mean(), abs=1e-6)
    assert np.isnan(values[2])
    assert unseen["shop"] == 1


def test_the_seed_picks_the_folds() -> None:
    one = prepare(recipe(target="y", categorical_encoding="target"), _table(), source=SRC)
    same = prepare(recipe(target="y", categorical_encoding="target"), _table(), source=SRC)
    other = validate(
        {**recipe(target="y", categorical_encoding="target").model_dump(), "train": {"seed": 7}}, source=SRC
    )
    moved = prepare(other, _table(), source=SRC)
    assert one.x_train["shop"].equals(same.x_train["shop"])
    assert not one.x_train["shop"].equals(moved.x_train["shop"])
    assert one.schema.target_stats == moved.schema.target_stats  # full-train statistics: no folds


def test_regression_encodes_the_mean() -> None:
    t = _table()
    t["y"] = t["shop"].str[1:].astype(int) % 5 * 10.0
    ds = prepare(recipe("regression", target="y", column_encoding={"shop": "target"}), t, source=SRC)
    level = ds.schema.categories["shop"].index("s4")
    assert ds.schema.target_stats["shop"][level] == pytest.approx(40.0, abs=0.5)


def test_multiclass_and_streamed_training_refuse_it_in_one_line(tmp_path: Path) -> None:
    t = _table()
    t["y"] = t["shop"].str[1:].astype(int) % 3
    with pytest.raises(
        DataError, match=r"^r.yaml: data.column_encoding.shop: encoding target needs a binary"
    ):
        prepare(recipe("multiclass", target="y", column_encoding={"shop": "target"}), t, source=SRC)
    from mlscale.data.streamed import prepare_streamed

    path = tmp_path / "t.parquet"
    _table().to_parquet(path)
    streamed = recipe(target="y", categorical_encoding="target", source="parquet", path=str(path))
    with pytest.raises(DataError, match=r"data.categorical_encoding: encoding target needs every train row"):
        prepare_streamed(streamed, source=SRC)


def test_workers_get_the_drivers_out_of_fold_rows_not_the_files(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    _table().to_parquet(path)
    plain = prepare(recipe(target="y", source="parquet", path=str(path)), source=SRC)
    target = prepare(
        recipe(target="y", categorical_encoding="target", source="parquet", path=str(path)), source=SRC
    )
    assert plain.files is not None and len(plain.files.train_rows) == plain.n_train  # workers may read
    assert target.files is not None and len(target.files.train_rows) == 0  # engines ship x_train


def test_a_saved_model_reloads_with_its_statistics_and_predicts_the_same(tmp_path: Path) -> None:
    import xgboost as xgb

    ds = prepare(recipe(target="y", categorical_encoding="target"), _table(), source=SRC)
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(ds.x_train, ds.y_train), 10)
    model = Model(booster=booster, schema=ds.schema)
    again = Model.load(model.save(tmp_path / "m"))
    assert again.schema == ds.schema and FeatureSchema.from_dict(ds.schema.to_dict()) == ds.schema
    rows = _table(50, seed=1).assign(shop=lambda f: f["shop"].where(f.index % 7 > 0, "unseen"))
    first, _ = model.predict_frame(rows)
    second, _ = again.predict_frame(rows)
    pd.testing.assert_frame_equal(first, second)
    assert first["prediction"].nunique() > 1


def test_auto_picks_target_only_for_sparse_high_cardinality_regression() -> None:
    def table(n_levels: int, rows_per_level: int) -> pd.DataFrame:
        n = n_levels * rows_per_level
        rng = np.random.default_rng(0)
        return pd.DataFrame(
            {
                "title": [f"t{i % n_levels}" for i in range(n)],
                "few": rng.choice(["a", "b"], n),
                "y": rng.random(n),
            }
        )

    sparse = prepare(recipe("regression", target="y"), table(1100, 3), source=SRC)
    assert sparse.schema.encodings == {"title": "target", "few": "native"}
    assert "categorical encoding: title target (1100 levels), few native (2 levels)" in sparse.notes
    binary = table(1100, 3).assign(y=lambda f: (f["y"] > 0.5).astype(int))
    assert prepare(recipe(target="y"), binary, source=SRC).schema.encodings["title"] == "ordinal"
    dense = prepare(recipe("regression", target="y"), table(1001, 30), source=SRC)
    assert dense.schema.encodings["title"] == "ordinal"  # 21,000 train rows: about 21 per level
    few_levels = prepare(recipe("regression", target="y"), table(1000, 3), source=SRC)
    assert few_levels.schema.encodings["title"] == "ordinal"


def test_explanations_show_a_target_encoded_value_as_its_level() -> None:
    from mlscale.assess.explanations import category_text

    ds = prepare(recipe(target="y", column_encoding={"shop": "target"}), _table(), source=SRC)
    x, _ = ds.schema.frame(pd.DataFrame({"shop": ["s3", None], "id": ["id1", "id2"], "x": 0.0}))
    shown = category_text(ds.schema, "shop", x["shop"])
    assert "s3" in str(shown[0]).split("|") and shown[1] is None
