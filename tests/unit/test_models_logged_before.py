"""A model logged before mlscale's modules moved into packages still loads and predicts.

MLflow copied that version's pyfunc entry point into the model (`tests/data/model_before_packages/`: a 5-round
breast_cancer model, logged to a sqlite store by `mlscale run` at the flat layout), and the copy runs
`from mlscale.model import Model` when the model loads: `mlscale/model.py` stays for it.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd
from sklearn.datasets import load_breast_cancer

LOGGED = Path(__file__).resolve().parents[1] / "data" / "model_before_packages"


def test_a_model_logged_before_the_packages_loads_and_predicts(tmp_path, monkeypatch):
    import mlflow.models.model
    import mlflow.pyfunc

    from mlscale.modeling.model import Model

    assert "from mlscale.model import Model" in (LOGGED / "_pyfunc_model.py").read_text()
    model_dir = shutil.copytree(LOGGED, tmp_path / "model")  # loading never touches the checked-in copy
    raw = load_breast_cancer(as_frame=True)
    x = raw.data.rename(columns=lambda c: c.replace(" ", "_"))
    # MLflow's code-model loader leaves the model it set and the code module behind: put both back
    monkeypatch.setattr(mlflow.models.model, "__mlflow_model__", None)
    before = set(sys.modules)
    try:
        out = mlflow.pyfunc.load_model(str(model_dir)).predict(x)
    finally:
        for name in set(sys.modules) - before:
            if name.startswith("code_model_"):
                del sys.modules[name]
    direct, _ = Model.load(model_dir / "artifacts" / "mlscale_model").predict_frame(x)
    assert list(out.columns) == ["prediction", "probability"]
    pd.testing.assert_frame_equal(out.reset_index(drop=True), direct.reset_index(drop=True))
    assert (out["prediction"].to_numpy() == raw.target.to_numpy()).mean() > 0.9


def test_the_pyfunc_file_imports_mlscale_only_through_its_stable_path():
    """Every logged model keeps a copy of this file: it must name no module a later layout may move."""
    import ast

    from mlscale.tracking import _pyfunc_model

    tree = ast.parse(Path(_pyfunc_model.__file__).read_text())
    names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert {m for m in names if m.startswith("mlscale")} == {"mlscale.model"}
