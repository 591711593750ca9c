"""SHAP values from xgboost: they add up to the margin, categorical features read as categories whatever
their encoding, and `mlscale explain` writes them like predict (one file, parts, the same refusals)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import cli_in_process

from mlscale.assess.explanations import (
    category_text,
    contribution_columns,
    contribution_frame,
    contributions,
    explanation,
    rank,
    sample_positions,
    toward_output,
)
from mlscale.data import FeatureSchema
from mlscale.modeling.model import Model

LEVELS = ["red", "green", "blue"]


def _raw(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    colour = rng.choice(LEVELS, n, p=[0.5, 0.3, 0.2])  # distinct shares: frequency codes map back one-to-one
    a = rng.normal(size=n)
    y = ((a + (colour == "red") * 1.5 + rng.normal(size=n) * 0.3) > 0.8).astype(int)
    return pd.DataFrame({"id": np.arange(n), "a": a, "c_native": colour, "c_ordinal": colour,
                         "c_frequency": colour, "y": y})  # fmt: skip


def _schema(task: str = "binary", classes: list | None = None) -> FeatureSchema:
    cats = sorted(LEVELS)  # blue, green, red
    return FeatureSchema(
        target="y", task=task, features=["a", "c_native", "c_ordinal", "c_frequency"],
        categories={"c_native": cats, "c_ordinal": cats, "c_frequency": cats},
        classes=classes if classes is not None else [0, 1],
        encodings={"c_ordinal": "ordinal", "c_frequency": "frequency"},
        frequencies={"c_frequency": [0.2, 0.3, 0.5]},
    )  # fmt: skip


def _model(raw: pd.DataFrame) -> Model:
    import xgboost as xgb

    schema = _schema()
    x, _ = schema.frame(raw)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "nthread": 1},
        xgb.DMatrix(x, label=raw["y"], enable_categorical=True),
        20,
    )
    return Model(booster, schema)


def _margin(model: Model, x: pd.DataFrame) -> np.ndarray:
    import xgboost as xgb

    return model.booster.predict(xgb.DMatrix(x, enable_categorical=True), output_margin=True)


def test_contributions_add_up_to_the_margin_and_name_categories_not_codes() -> None:
    raw = _raw()
    model = _model(raw)
    x, _ = model.schema.frame(raw)
    values = contributions(model.booster, x, nthread=1)
    assert values.shape == (len(raw), 5)
    np.testing.assert_allclose(values.sum(axis=1), _margin(model, x), atol=1e-4)
    exp = explanation(model.schema, values, x)
    assert exp.output == "log-odds of class 1"
    for col in ("c_native", "c_ordinal", "c_frequency"):
        assert list(exp.shown[col][:20]) == list(raw[col][:20]), col
    assert exp.ranking[0].mean_abs >= exp.ranking[-1].mean_abs
    assert {e.feature for e in exp.ranking if e.categorical} == {"c_native", "c_ordinal", "c_frequency"}


def test_unseen_and_missing_categories_read_as_missing() -> None:
    schema = _schema()
    x, unseen = schema.frame(pd.DataFrame({"a": [1.0, 2.0], "c_native": ["purple", None],
                                           "c_ordinal": ["purple", "red"], "c_frequency": [None, "green"]}))  # fmt: skip
    assert unseen == {"c_native": 1, "c_ordinal": 1}
    assert list(category_text(schema, "c_native", x["c_native"])) == [None, None]
    assert list(category_text(schema, "c_ordinal", x["c_ordinal"])) == [None, "red"]
    assert list(category_text(schema, "c_frequency", x["c_frequency"])) == [None, "green"]


def test_frequency_levels_sharing_a_share_are_named_together() -> None:
    schema = FeatureSchema(target="y", task="binary", features=["c"], categories={"c": ["a", "b", "c"]},
                           encodings={"c": "frequency"}, frequencies={"c": [0.25, 0.25, 0.5]})  # fmt: skip
    x, _ = schema.frame(pd.DataFrame({"c": ["a", "c"]}))
    assert list(category_text(schema, "c", x["c"])) == ["a|b", "c"]


def test_multiclass_rows_are_explained_toward_their_predicted_class() -> None:
    contribs = np.array([[[1.0, 0.0], [0.0, 2.0], [0.5, 0.0]], [[3.0, 0.0], [0.0, 0.0], [0.0, 0.1]]])
    values, output = toward_output("multiclass", contribs, ["x", "y", "z"])
    assert output == "log-odds of the predicted class"
    np.testing.assert_array_equal(values, [[0.0, 2.0], [3.0, 0.0]])  # class y for row 0, x for row 1
    schema = FeatureSchema(target="t", task="multiclass", features=["f"], classes=["x", "y"])
    assert contribution_columns(schema) == ["shap_x_f", "shap_x_bias", "shap_y_f", "shap_y_bias"]


def test_rank_orders_features_by_mean_absolute_value() -> None:
    ranked = rank(["a", "b"], np.array([[0.1, -3.0], [-0.3, 1.0]]), {"b"})
    assert [(e.feature, e.categorical) for e in ranked] == [("b", True), ("a", False)]
    assert ranked[0].mean_abs == pytest.approx(2.0)


def test_sample_positions_are_seeded_sorted_and_all_rows_when_few() -> None:
    assert list(sample_positions(5, 10, 0)) == [0, 1, 2, 3, 4]
    a, b = sample_positions(1000, 50, 3), sample_positions(1000, 50, 3)
    assert list(a) == list(b) == sorted(set(a)) and len(a) == 50


def test_contribution_frame_passes_ids_through() -> None:
    raw = _raw(50)
    model = _model(_raw())
    out, unseen = contribution_frame(model, raw, id_columns=["id"])
    assert list(out.columns) == [
        "id",
        "shap_a",
        "shap_c_native",
        "shap_c_ordinal",
        "shap_c_frequency",
        "shap_bias",
    ]
    assert unseen == {} and list(out["id"]) == list(range(50))


@pytest.fixture
def explain_setup(workdir):
    raw = _raw()
    raw.to_csv(workdir / "train.csv", index=False)
    raw.head(200).to_parquet(workdir / "input.parquet")
    model = _model(raw)
    model.save(workdir / "model")
    (workdir / "recipe.yaml").write_text(
        "name: ex\ndata: {source: csv, path: train.csv, target: y, exclude: [id]}\n"
        "predict: {output: out/predictions.parquet, id_columns: [id]}\n"
    )
    return workdir, model


def test_mlscale_explain_writes_one_file_or_parts(explain_setup, capsys, cli_state) -> None:
    workdir, model = explain_setup
    code, out, err = cli_in_process(["explain", "recipe.yaml", "--model", "model", "--input", "input.parquet", "-q"],
                                    capsys)  # fmt: skip
    assert code == 0, err
    assert out.strip() == "out/contributions.parquet"
    written = pd.read_parquet(workdir / "out/contributions.parquet")
    assert len(written) == 200 and list(written.columns)[:2] == ["id", "shap_a"]
    x, _ = model.schema.frame(pd.read_parquet(workdir / "input.parquet"))
    np.testing.assert_allclose(written.drop(columns="id").sum(axis=1), _margin(model, x), atol=1e-4)
    code, out, err = cli_in_process(
        [
            "explain",
            "recipe.yaml",
            "--model",
            "model",
            "--input",
            "input.parquet",
            "--output",
            "parts/",
            "-q",
        ],
        capsys,
    )
    assert code == 0, err
    manifest = json.loads((workdir / "parts/_manifest.json").read_text())
    assert manifest["rows"] == 200 and len(manifest["files"]) == 1


def test_mlscale_explain_refuses_to_overwrite_its_input(explain_setup, capsys, cli_state) -> None:
    workdir, _ = explain_setup
    before = (workdir / "input.parquet").read_bytes()
    code, _, err = cli_in_process(
        [
            "explain",
            "recipe.yaml",
            "--model",
            "model",
            "--input",
            "input.parquet",
            "--output",
            "input.parquet",
        ],
        capsys,
    )
    assert code == 2
    assert "explain.output: input.parquet is the predict input" in err and len(err.strip().splitlines()) == 1
    assert (workdir / "input.parquet").read_bytes() == before


def test_a_slice_column_not_in_the_data_is_refused_at_load(explain_setup, capsys, cli_state) -> None:
    code, _, err = cli_in_process(["run", "recipe.yaml", "--set", "evaluate.slices=[c_natve]", "-q"], capsys)
    assert code == 2
    assert "recipe.yaml: evaluate.slices: column 'c_natve' not found (did you mean 'c_native'?)" in err
    assert len(err.strip().splitlines()) == 1


def test_mlscale_explain_logs_unseen_categories_and_rows(explain_setup, capsys, cli_state) -> None:
    workdir, _ = explain_setup
    frame = pd.read_parquet(workdir / "input.parquet")
    frame.loc[:2, "c_native"] = "purple"
    frame.to_parquet(workdir / "unseen.parquet")
    code, _, err = cli_in_process(["explain", "recipe.yaml", "--model", "model", "--input", "unseen.parquet"],
                                    capsys)  # fmt: skip
    assert code == 0, err
    assert "explain: 3 value(s) of 'c_native' were not seen in training; explained as missing" in err
    assert "explain: 200 rows in " in err and "-> out/contributions.parquet" in err
