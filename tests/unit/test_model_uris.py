"""Every model URI form MLflow 3 hands out is taken by `predict`, `explain` and `predict.model`, and an
error about a model never shows a temporary path."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import mlscale

RECIPE = "name: uris\ndata: {source: sklearn, dataset: breast_cancer}\ntrain: {num_boost_round: 5}\n"


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, mlscale.RunResult]:
    """One run with its model registered as `bc` (version 1, alias @champion), and new rows to score."""
    import os

    cwd = tmp_path_factory.mktemp("uris")
    before, old_uri = Path.cwd(), os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.chdir(cwd)
    try:
        (cwd / "r.yaml").write_text(RECIPE)
        result = mlscale.run(cwd / "r.yaml", overrides={"mlflow.registered_model": "bc"})
        from mlflow.tracking import MlflowClient

        client = MlflowClient(result.tracking_uri)
        client.set_registered_model_alias("bc", "champion", "1")
        client.log_text(result.run_id, "not a model", "notamodel/readme.txt")
        from sklearn.datasets import load_breast_cancer

        new = load_breast_cancer(as_frame=True).frame.drop(columns=["target"]).head(20)
        new.columns = [c.replace(" ", "_") for c in new.columns]
        new.to_csv(cwd / "new.csv", index=False)
    finally:
        os.chdir(before)
        if old_uri is not None:
            os.environ["MLFLOW_TRACKING_URI"] = old_uri
    return cwd, result


def _forms(result: mlscale.RunResult) -> list[str]:
    return [
        str(result.model_uri),  # models:/m-<id>, MLflow 3's logged model (also the mlscale.model_uri tag)
        f"runs:/{result.run_id}/model",
        "models:/bc/1",
        "models:/bc@champion",
        "models:/bc/latest",
        result.run_id,
    ]


def test_the_model_uri_mlscale_hands_out_is_a_logged_model_uri(logged) -> None:
    _, result = logged
    assert str(result.model_uri).startswith("models:/m-")


@pytest.mark.parametrize("command", ["predict", "explain"])
def test_predict_and_explain_take_every_model_uri_form(logged, run_cli, monkeypatch, command) -> None:
    cwd, result = logged
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    for i, uri in enumerate(_forms(result)):
        out = cwd / f"{command}-{i}.csv"
        done = run_cli(command, "r.yaml", "--model", uri, "--input", "new.csv", "--output", out.name, cwd=cwd)
        assert done.returncode == 0, (uri, done.stderr)
        assert len(pd.read_csv(out)) == 20, uri


def test_predict_model_in_the_recipe_takes_a_logged_model_uri(logged, monkeypatch) -> None:
    cwd, result = logged
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    out = mlscale.predict(
        cwd / "r.yaml", model=str(result.model_uri), input="new.csv", output="recipe-model.csv"
    )
    assert len(pd.read_csv(out)) == 20


def test_an_mlflow_path_that_holds_no_mlscale_model_fails_in_one_line_without_a_temp_path(
    logged, run_cli, monkeypatch
) -> None:
    cwd, result = logged
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"runs:/{result.run_id}/notamodel"
    done = run_cli("predict", "r.yaml", "--model", uri, "--input", "new.csv", "--output", "x.csv", cwd=cwd)
    assert done.returncode == 2
    line = done.stderr.strip()
    assert len(line.splitlines()) == 1 and uri in line and "is not an mlscale model" in line
    assert "mlscale-model-" not in line and "/tmp" not in line and not (cwd / "x.csv").exists()
