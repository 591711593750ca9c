"""A run leaves nothing in the temp directory: plots of a run without `predict` live only in the
MLflow run (they were written to a fresh mlscale-plots-* directory, left behind by every run)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

import mlscale


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tempfile's directory for this test only, so nothing else on the machine is counted."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLSCALE_HOME", str(tmp_path / "home"))
    return tmp


def test_a_run_without_predict_leaves_no_temp_entries(private_tmp: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: leaks\ndata: {source: sklearn, dataset: breast_cancer}\ntrain: {num_boost_round: 5}\n"
    )
    before = sorted(p.name for p in private_tmp.iterdir())
    result = mlscale.run(recipe)
    assert sorted(p.name for p in private_tmp.iterdir()) == before
    from mlflow.tracking import MlflowClient

    logged = MlflowClient(result.tracking_uri).list_artifacts(result.run_id, "plots")
    assert {Path(a.path).name for a in logged} >= {"feature_importance.png", "learning_curve.png"}
    assert result.plots == []  # nothing kept on disk to point to


def test_predict_with_a_logged_model_leaves_no_temp_entries(private_tmp: Path, tmp_path: Path) -> None:
    """The model is downloaded from the run into a temp directory: removed once loaded."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: leaks\ndata: {source: sklearn, dataset: breast_cancer}\ntrain: {num_boost_round: 5}\n"
    )
    result = mlscale.run(recipe)
    from sklearn.datasets import load_breast_cancer

    new = load_breast_cancer(as_frame=True).frame.drop(columns=["target"]).head(50)
    new.columns = [c.replace(" ", "_") for c in new.columns]
    new.to_csv(tmp_path / "new.csv", index=False)
    before = sorted(p.name for p in private_tmp.iterdir())
    out = mlscale.predict(
        recipe, model=f"runs:/{result.run_id}/model", input=str(tmp_path / "new.csv"),
        output=str(tmp_path / "scored.csv"),
    )  # fmt: skip
    assert out.is_file()
    assert sorted(p.name for p in private_tmp.iterdir()) == before
