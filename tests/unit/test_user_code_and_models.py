"""The one way user code runs (an opt-in import path), what models are made of (no pickles), and
missing or infinite feature values (allowed: xgboost's own missing-value handling)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlscale import DataError, RecipeError
from mlscale.data import prepare
from mlscale.engines.local import LocalEngine
from mlscale.modeling.model import Model
from mlscale.recipe.load import validate
from mlscale.recipe.schema import EngineConfig, TrainConfig

HOOK = """
import pandas as pd

CALLS = []


def add_ratio(table):
    CALLS.append(len(table))
    out = table.copy()
    out["ratio"] = out["a"] / (out["b"] + 1)
    return out


def not_a_frame(table):
    return table.to_numpy()
"""


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    n = 200
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.integers(0, 5, n)})
    frame["label"] = (frame["a"] > 0).astype(int)
    frame.to_csv(tmp_path / "train.csv", index=False)
    return tmp_path / "train.csv"


@pytest.fixture
def hook_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"mls_hook_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(HOOK)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def _recipe(csv: Path, **data: object):
    return validate(
        {"name": "t", "data": {"source": "csv", "path": str(csv), "target": "label", **data}}, source="r.yaml"
    )


def test_the_preprocess_hook_runs_once_on_the_table(csv, hook_module):
    data = prepare(_recipe(csv, preprocess=f"{hook_module}:add_ratio"), source="r.yaml")
    assert "ratio" in data.schema.features
    assert sys.modules[hook_module].CALLS == [200]


def test_a_hook_must_return_a_dataframe(csv, hook_module):
    with pytest.raises(DataError) as info:
        prepare(_recipe(csv, preprocess=f"{hook_module}:not_a_frame"), source="r.yaml")
    assert (
        str(info.value)
        == f"r.yaml: data.preprocess: {hook_module}:not_a_frame must return a pandas DataFrame"
    )


def test_a_hook_that_cannot_be_imported_is_a_recipe_error(csv):
    with pytest.raises(RecipeError) as info:
        prepare(_recipe(csv, preprocess="no_such_module_abc:clean"), source="r.yaml")
    assert str(info.value).startswith("r.yaml: data.preprocess: cannot import 'no_such_module_abc:clean' (")


def test_nan_and_inf_in_features_train_and_predict(csv, tmp_path):
    frame = pd.read_csv(csv)
    frame["b"] = frame["b"].astype(float)
    frame.loc[::7, "a"] = np.nan
    frame.loc[3, "b"] = np.inf
    frame.loc[4, "b"] = -np.inf
    frame.to_csv(tmp_path / "holes.csv", index=False)
    data = prepare(_recipe(tmp_path / "holes.csv"), source="r.yaml")
    trained = LocalEngine(EngineConfig()).train(data, TrainConfig(num_boost_round=10))
    out, _ = trained.model.predict_frame(data.test_frame)
    assert len(out) == len(data.test_frame) and out["probability"].between(0, 1).all()


def test_a_saved_model_holds_no_pickle(csv, tmp_path):
    data = prepare(_recipe(csv), source="r.yaml")
    model = LocalEngine(EngineConfig()).train(data, TrainConfig(num_boost_round=5)).model
    folder = model.save(tmp_path / "m")
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["mlscale_schema.json", "model.ubj"]
    assert all(not p.read_bytes().startswith(b"\x80") for p in folder.iterdir())  # pickle's opcode
    again = Model.load(folder)
    assert again.booster.save_raw("json") == model.booster.save_raw("json")
