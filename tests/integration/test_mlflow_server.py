"""Runs logged through a real `mlflow server`, read back with MlflowClient, models reloaded with pyfunc."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import mlscale
from mlscale.errors import TrackingError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server_env(mlflow_server, monkeypatch, workdir):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    return mlflow_server


def _client(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri)


def test_run_is_logged_with_metrics_timings_children_and_model(server_env):
    result = mlscale.run(
        ROOT / "recipes/breast_cancer.yaml", overrides={"tune.num_samples": 3, "train.num_boost_round": 50}
    )
    assert result.tracking_uri == server_env
    client = _client(server_env)
    exp = client.get_experiment_by_name("breast_cancer")
    runs = client.search_runs([exp.experiment_id], filter_string=f"attributes.run_id = '{result.run_id}'")
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    for key in ("time_load_s", "time_train_s", "time_tune_s", "time_predict_s", "time_total_s", "test_auc"):
        assert key in run.data.metrics, key
    assert run.data.metrics["test_auc"] >= 0.95
    assert run.data.tags["engine"] == "local"
    assert run.data.tags["version.xgboost"]
    assert run.data.params["train.num_boost_round"] == "50"
    children = client.search_runs(
        [exp.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{result.run_id}'"
    )
    assert len(children) == 3
    assert all("valid_logloss" in c.data.metrics for c in children)
    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"recipe.yaml", "plots"} <= artifacts

    def tree(path: str) -> list[str]:
        return [
            p
            for a in client.list_artifacts(result.run_id, path)
            for p in (tree(a.path) if a.is_dir else [a.path])
        ]

    logged = tree("model")
    assert any(p.endswith("model.ubj") for p in logged)  # xgboost's own format ...
    assert not [
        p for p in logged if p.endswith((".pkl", ".pickle", ".joblib", ".cloudpickle"))
    ]  # ... no pickle

    import mlflow

    pyfunc = mlflow.pyfunc.load_model(f"runs:/{result.run_id}/model")
    written = pd.read_parquet(result.output_path)
    from mlscale.data import prepare

    data = prepare(result.recipe, source="test")
    assert len(written) == len(data.test_frame) > 0  # one prediction per test row
    assert result.run_url == f"{server_env}/#/experiments/{exp.experiment_id}/runs/{result.run_id}"
    predicted = pyfunc.predict(data.test_frame[data.schema.features])
    np.testing.assert_allclose(
        predicted["probability_1"].to_numpy(), written["probability"].to_numpy(), rtol=1e-6
    )


def test_categorical_model_roundtrips_through_pyfunc(server_env, workdir):
    rng = np.random.default_rng(0)
    n = 600
    colour = rng.choice(["red", "green", "blue"], n)
    x = rng.normal(size=n)
    y = ((colour == "red") ^ (x > 0.3)).astype(int)
    frame = pd.DataFrame({"row_id": range(n), "x": x, "colour": colour, "label": y})
    frame.to_csv(workdir / "train.csv", index=False)
    new = frame.drop(columns=["label"]).iloc[:50].copy()
    new.loc[0, "colour"] = "purple"  # unseen at training time
    new.to_csv(workdir / "new.csv", index=False)
    recipe = {
        "name": "categorical",
        "data": {"source": "csv", "path": "train.csv", "target": "label", "features": ["x", "colour"]},
        "train": {"num_boost_round": 30},
        "predict": {"input": "new.csv", "output": "out/pred.csv", "id_columns": ["row_id"]},
    }
    (workdir / "cat.yaml").write_text(yaml.safe_dump(recipe))
    result = mlscale.run(workdir / "cat.yaml")
    assert result.metrics["test_accuracy"] > 0.9
    assert result.model.schema.categories == {"colour": ["blue", "green", "red"]}
    written = pd.read_csv(workdir / "out/pred.csv")
    assert list(written.columns) == ["row_id", "prediction", "probability"]
    assert len(written) == 50
    metrics = _client(server_env).get_run(result.run_id).data.metrics
    assert metrics["predict_unseen_colour"] == 1  # "purple", counted and predicted as missing

    import mlflow

    pyfunc = mlflow.pyfunc.load_model(f"runs:/{result.run_id}/model")
    predicted = pyfunc.predict(new[["x", "colour"]])
    np.testing.assert_allclose(
        predicted["probability_1"].to_numpy(), written["probability"].to_numpy(), rtol=1e-5
    )

    # the same model through `mlflow models predict` (the CLI users script against)
    out = subprocess.run(
        [str(Path(sys.executable).parent / "mlflow"), "models", "predict", "-m", f"runs:/{result.run_id}/model",
         "-i", str(workdir / "new.csv"), "-t", "csv", "-o", str(workdir / "cli.json"), "--env-manager", "local"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    cli = (
        pd.read_json(workdir / "cli.json", orient="records")
        if (workdir / "cli.json").read_text()[0] == "["
        else (pd.DataFrame(__import__("json").loads((workdir / "cli.json").read_text())["predictions"]))
    )
    np.testing.assert_allclose(cli["probability_1"].to_numpy(), written["probability"].to_numpy(), rtol=1e-5)


def test_served_model_takes_missing_integers_and_unseen_categories(server_env, workdir):
    """The logged signature declares every feature `Any` (MLflow's double refuses int64, its long a missing
    value): a served model takes a row with a missing integer, and an ordinal-encoded column is encoded by
    the model itself. Every input type is served in tests/e2e/test_serving.py."""
    rng = np.random.default_rng(1)
    n = 800
    frame = pd.DataFrame(
        {
            "items": rng.integers(0, 20, n),  # int64: MLflow would infer a required long
            "colour": rng.choice(["red", "green", "blue"], n),
            "shop": [f"shop{i}" for i in rng.integers(0, 60, n)],  # 60 levels: ordinal under auto
        }
    )
    frame["label"] = ((frame["items"] > 9) ^ (frame["colour"] == "red")).astype(int)
    frame.to_csv(workdir / "train.csv", index=False)
    recipe = {
        "name": "serving",
        "data": {"source": "csv", "path": "train.csv", "target": "label"},
        "train": {"num_boost_round": 20},
    }
    (workdir / "s.yaml").write_text(yaml.safe_dump(recipe))
    result = mlscale.run(workdir / "s.yaml")
    assert result.model.schema.encodings == {"colour": "native", "shop": "ordinal"}
    new = frame.drop(columns=["label"]).iloc[:5].copy()
    new["items"] = new["items"].astype("float64")
    new.loc[1, "items"] = np.nan  # one missing integer feature
    new.loc[2, "colour"] = "purple"  # unseen
    new.loc[3, "shop"] = None  # missing text
    expected, _ = result.model.predict_frame(new)

    import mlflow

    model_uri = f"runs:/{result.run_id}/model"
    inputs = mlflow.models.get_model_info(model_uri).signature.inputs.to_dict()
    assert {c["name"]: c["type"] for c in inputs} == {"items": "any", "colour": "any", "shop": "any"}
    predicted = mlflow.pyfunc.load_model(model_uri).predict(new)
    np.testing.assert_allclose(predicted["probability_1"], expected["probability"], rtol=1e-6)

    new.to_csv(workdir / "new.csv", index=False)  # the missing integer is an empty field
    out = subprocess.run(
        [str(Path(sys.executable).parent / "mlflow"), "models", "predict", "-m", model_uri,
         "-i", str(workdir / "new.csv"), "-t", "csv", "-o", str(workdir / "cli.json"), "--env-manager", "local"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    served = pd.DataFrame(__import__("json").loads((workdir / "cli.json").read_text())["predictions"])
    np.testing.assert_allclose(served["probability_1"], expected["probability"], rtol=1e-5)


def test_secrets_never_reach_the_tracking_server(server_env, workdir):
    secret = "s3cr3t-Planted-Value"
    recipe = yaml.safe_load((ROOT / "recipes/diabetes.yaml").read_text())
    recipe["train"]["num_boost_round"] = 5
    recipe["train"]["params"] = {"api_token": secret}
    recipe["description"] = f"see https://user:{secret}@example.invalid/data"
    recipe["predict"] = None
    (workdir / "r.yaml").write_text(yaml.safe_dump(recipe))
    result = mlscale.run(workdir / "r.yaml")
    client = _client(server_env)
    run = client.get_run(result.run_id)
    blob = repr(run.data.params) + repr(run.data.tags)
    local = client.download_artifacts(result.run_id, "recipe.yaml", str(workdir))
    blob += Path(local).read_text()
    assert secret not in blob
    assert "***" in blob


def test_unreachable_tracking_server_fails_fast(monkeypatch, workdir):
    from conftest import free_port

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(
        TrackingError, match=r"^mlflow: tracking server http://127\.0\.0\.1:\d+ does not answer"
    ):
        mlscale.run(ROOT / "recipes/diabetes.yaml")
    assert not (workdir / "output").exists()


def test_registered_model_predicts_by_models_latest(server_env, workdir):
    """`mlflow.registered_model` registers each run's model; `mlscale predict --model models:/name/latest`
    scores with the newest version."""
    overrides = {"tune": None, "predict": None, "mlflow.registered_model": "bc_registry_test"}
    first = mlscale.run(
        ROOT / "recipes/breast_cancer.yaml", overrides={**overrides, "train.num_boost_round": 5}
    )
    second = mlscale.run(
        ROOT / "recipes/breast_cancer.yaml", overrides={**overrides, "train.num_boost_round": 40}
    )
    client = _client(server_env)
    versions = client.search_model_versions("name = 'bc_registry_test'")
    assert sorted((int(v.version), v.run_id) for v in versions) == [(1, first.run_id), (2, second.run_id)]
    assert client.get_run(second.run_id).data.tags["mlscale.registered_model"] == "models:/bc_registry_test/2"

    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.drop(columns=["target"]).head(30)
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame.insert(0, "id", range(30))
    frame.to_parquet(workdir / "new.parquet")
    done = subprocess.run(
        [str(Path(sys.executable).parent / "mlscale"), "predict", str(ROOT / "recipes/breast_cancer.yaml"),
         "--model", "models:/bc_registry_test/latest", "--input", "new.parquet", "--output", "scored.parquet",
         "--set", "predict.id_columns=[id]"],
        cwd=workdir, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    scored = pd.read_parquet(workdir / "scored.parquet")
    expected = second.model.booster.inplace_predict(frame.drop(columns=["id"]))
    np.testing.assert_allclose(scored["probability"].to_numpy(), expected, rtol=1e-5)  # version 2, not 1
    assert list(scored["id"]) == list(range(30))


def test_credentials_in_the_tracking_uri_reach_the_server_and_no_output(mlflow_server, workdir):
    """http://alice:s3cr3t@127.0.0.1:PORT: the pre-flight probe used to take 'alice:s3cr3t@127.0.0.1'
    for the host ("does not answer") although the server was up; MLflow sends them as basic auth."""
    import os

    secret = "s3cr3t-Planted"
    uri = mlflow_server.replace("http://", f"http://alice:{secret}@")
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "mlscale"), "run", str(ROOT / "recipes/diabetes.yaml"),
         "--set", "train.num_boost_round=5", "--set", "predict=null"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert secret not in done.stdout + done.stderr
    assert "alice:***@127.0.0.1" in done.stdout
    run = _client(mlflow_server).search_runs(
        [_client(mlflow_server).get_experiment_by_name("diabetes").experiment_id], max_results=1
    )[0]
    assert run.info.status == "FINISHED"
    assert secret not in repr(run.data.params) + repr(run.data.tags)
