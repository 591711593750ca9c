"""What the logged (pyfunc) model returns: `prediction`, and a `probability_<class>` column per class that
says which class it belongs to (binary: the positive class). Served end to end in tests/e2e/test_serving.py."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlscale.data import prepare
from mlscale.engines.local import LocalEngine
from mlscale.modeling.model import Model
from mlscale.recipe.load import validate
from mlscale.recipe.schema import EngineConfig, TrainConfig


def _model(target: Any) -> tuple[Model, pd.DataFrame]:
    rng = np.random.default_rng(5)
    n = len(target)
    frame = pd.DataFrame({"x": rng.normal(size=n), "colour": rng.choice(["red", "blue"], n), "y": target})
    recipe = validate(
        {"name": "t", "data": {"source": "csv", "path": "unused.csv", "target": "y"}}, source="r"
    )
    data = prepare(recipe, frame, source="r")
    model = LocalEngine(EngineConfig()).train(data, TrainConfig(num_boost_round=3)).model
    return model, frame.drop(columns="y").head(20)


def test_binary_names_the_positive_class() -> None:
    model, rows = _model(np.array(["no", "yes"] * 100))
    assert model.schema.classes == ["no", "yes"]
    served = model.serve_frame(rows)
    assert list(served.columns) == ["prediction", "probability_yes"]
    mine, _ = model.predict_frame(rows)
    np.testing.assert_allclose(served["probability_yes"], mine["probability"])
    assert ((served["probability_yes"] >= 0.5) == (served["prediction"] == "yes")).all()


def test_multiclass_has_every_class() -> None:
    model, rows = _model(np.array([3, 1, 2] * 70))
    served = model.serve_frame(rows)
    assert list(served.columns) == ["prediction", "probability_1", "probability_2", "probability_3"]
    matrix = served[["probability_1", "probability_2", "probability_3"]].to_numpy()
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, rtol=1e-5)
    assert (np.array([1, 2, 3])[matrix.argmax(axis=1)] == served["prediction"].to_numpy()).all()


def test_regression_is_the_prediction_alone() -> None:
    model, rows = _model(np.linspace(0.0, 1.0, 200))
    assert list(model.serve_frame(rows).columns) == ["prediction"]
