"""A predict or explain input is read as training read its table: each categorical column as text (a csv
column of `007` and `012` keeps its zeros), and an empty field is missing, not an unseen category."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import cli_in_process

from mlscale.assess.explanations import contribution_frame
from mlscale.data import iter_input_batches, prepare
from mlscale.data.categories import codes
from mlscale.engines.local import LocalEngine
from mlscale.modeling.model import Model
from mlscale.recipe.load import validate
from mlscale.recipe.schema import EngineConfig, TrainConfig


@pytest.fixture
def trained(workdir: Path) -> tuple[Path, Model]:
    """train.csv ('code' is text: '007', '012', 'A12'; 'colour' has blanks), a model of it in model/, and
    new.csv: 'code' holding only digits, 'colour' with 23 blank cells."""
    rng = np.random.default_rng(3)
    n = 300
    frame = pd.DataFrame({"x": rng.normal(size=n), "code": rng.choice(["007", "012", "A12"], n)})
    frame["colour"] = rng.choice(["red", "blue", None], n)
    frame["label"] = ((frame["code"] == "007") ^ (frame["x"] > 0)).astype(int)
    frame.to_csv(workdir / "train.csv", index=False)
    (workdir / "recipe.yaml").write_text(
        "name: t\ndata: {source: csv, path: train.csv, target: label}\ntrain: {num_boost_round: 10}\n"
        "predict: {output: out/predictions.csv}\n"
    )
    raw = {"name": "t", "data": {"source": "csv", "path": "train.csv", "target": "label"}}
    data = prepare(validate(raw, source="recipe.yaml"), source="recipe.yaml")
    model = LocalEngine(EngineConfig()).train(data, TrainConfig(num_boost_round=10)).model
    assert model.schema.categories["code"] == ["007", "012", "A12"]
    model.save(workdir / "model")
    new = pd.DataFrame(
        {"x": rng.normal(size=40), "code": ["007", "012"] * 20, "colour": ["red"] * 17 + [None] * 23}
    )
    new.to_csv(workdir / "new.csv", index=False)
    assert ",007," in (workdir / "new.csv").read_text()  # digits only: Arrow alone reads the column as int64
    return workdir, model


def _as_text(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"code": str, "colour": str})


def test_predict_reads_categoricals_as_text_and_blanks_as_missing(trained, capsys, cli_state) -> None:
    workdir, model = trained
    code, _, err = cli_in_process(
        ["predict", "recipe.yaml", "--model", "model", "--input", "new.csv"], capsys
    )
    assert code == 0, err
    assert "not seen in training" not in err  # neither '007' read as 7, nor the 23 blanks
    written = pd.read_csv(workdir / "out/predictions.csv")
    expected, unseen = model.predict_frame(_as_text(workdir / "new.csv"))
    assert unseen == {}
    np.testing.assert_allclose(written["probability"], expected["probability"], rtol=1e-6)
    assert expected["probability"].nunique() > 2  # the code column is used, not all missing


def test_explain_reads_categoricals_as_text(trained, capsys, cli_state) -> None:
    workdir, model = trained
    args = ["explain", "recipe.yaml", "--model", "model", "--input", "new.csv", "--output", "out/shap.csv"]
    code, _, err = cli_in_process(args, capsys)
    assert code == 0, err
    assert "not seen in training" not in err
    written = pd.read_csv(workdir / "out/shap.csv")
    expected, _ = contribution_frame(model, _as_text(workdir / "new.csv"))
    np.testing.assert_allclose(written["shap_code"], expected["shap_code"], rtol=1e-5)


def test_an_input_file_names_its_text_columns(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text('a,code,c\n1,007,x\n2,,\n3,012,NA\n,,""\n')
    _, batches = iter_input_batches(str(tmp_path / "t.csv"), batch_size=10, where="w", text_columns=["code"])
    got = next(batches).to_pandas()
    assert got["code"].tolist()[::2] == ["007", "012"] and got["code"].isna().tolist() == [
        False,
        True,
        False,
        True,
    ]
    assert got["c"].isna().tolist() == [False, True, True, True]  # '', NA and "" are missing, as in pandas
    assert got["a"].tolist()[:3] == [1, 2, 3]


def test_text_of_a_number_finds_the_level_training_read_as_that_number() -> None:
    """A categorical trained from numbers (7, 2.0: levels '7', '2') and read as text at predict."""
    index = {"7": 0, "2": 1, "2.5": 2}
    assert codes(pd.Series(["007", "2.0", "2.5", "x", "8", None]), index).tolist() == [0, 1, 2, -1, -1, -1]
    text_levels = {"007": 0, "A12": 1}
    assert codes(pd.Series(["007", "7"]), text_levels).tolist() == [0, -1]  # text levels match exactly
    assert codes(pd.Series(["nan", "inf"]), {"": 0, "inf": 1}).tolist() == [-1, 1]  # 'nan' is no level


def test_a_cluster_predict_task_reads_categoricals_as_text(trained) -> None:
    """What each Ray or Dask task runs on its input file (called here without a cluster)."""
    from mlscale.scoring.file_tasks import file_predictions

    workdir, model = trained
    unseen: dict[str, int] = {}
    settings = {"batch_size": 16, "where": "predict.input", "id_columns": []}
    out = pd.concat(file_predictions(model, str(workdir / "new.csv"), settings, unseen), ignore_index=True)
    expected, _ = model.predict_frame(_as_text(workdir / "new.csv"))
    assert unseen == {}
    np.testing.assert_allclose(out["probability"], expected["probability"], rtol=1e-6)
