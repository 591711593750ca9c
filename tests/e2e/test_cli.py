"""The `mlscale` command end to end, as a user types it (subprocess, real files, sqlite MLflow)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
MLSCALE = str(Path(sys.executable).parent / "mlscale")


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([MLSCALE, *args], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def test_breast_cancer_demo_meets_the_bar(cwd):
    """The README's main job: trains, tunes 8 trials, predicts; test AUC >= 0.98."""
    done = cli("run", str(ROOT / "recipes/breast_cancer.yaml"), cwd=cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "test_auc" in done.stdout
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{cwd}/mlflow.db")
    runs = mlflow.search_runs(experiment_names=["breast_cancer"])
    parent = runs[runs["tags.mlflow.parentRunId"].isna()]
    assert len(parent) == 1 and len(runs) == 1 + 8
    assert parent["metrics.test_auc"].iloc[0] >= 0.98
    out = pd.read_parquet(cwd / "output/breast_cancer/predictions.parquet")
    assert list(out.columns) == ["target", "prediction", "probability"]
    assert (out["prediction"] == out["target"]).mean() > 0.9
    assert (cwd / "output/breast_cancer/plots/predicted_vs_truth.png").stat().st_size > 1000


@pytest.mark.parametrize("name", ["wine", "diabetes"])
def test_recipes_run_with_overrides(name, cwd):
    sets = ["--set", "train.num_boost_round=30"] + (["--set", "tune.num_samples=2"] if name == "wine" else [])
    done = cli("run", str(ROOT / f"recipes/{name}.yaml"), "-q", *sets, cwd=cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "time_total_s" in done.stdout
    assert list((cwd / "output" / name).glob("predictions.*"))


def test_bad_input_exits_2_with_one_line_and_creates_nothing(cwd):
    done = cli("run", str(ROOT / "recipes/diabetes.yaml"), "--set", "data.features=[age, bmi, bpp]", cwd=cwd)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines == [
        f"error: {ROOT}/recipes/diabetes.yaml: data.features: column 'bpp' not found (did you mean 'bp'?)"
    ]
    assert not (cwd / "mlflow.db").exists() and not (cwd / "output").exists()


def test_predict_command_with_a_logged_model(cwd):
    done = cli("run", str(ROOT / "recipes/diabetes.yaml"), "-q", "--set", "train.num_boost_round=20", cwd=cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{cwd}/mlflow.db")
    run_id = mlflow.search_runs(experiment_names=["diabetes"])["run_id"].iloc[0]
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame.drop(columns=["target"]).head(40)
    frame.insert(0, "id", range(40))
    frame.to_parquet(cwd / "new.parquet")
    done = cli(
        "predict",
        str(ROOT / "recipes/diabetes.yaml"),
        "--model",
        f"runs:/{run_id}/model",
        "--input",
        "new.parquet",
        "--output",
        "scored.parquet",
        "--set",
        "predict.id_columns=[id]",
        cwd=cwd,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = pd.read_parquet(cwd / "scored.parquet")
    assert list(out["id"]) == list(range(40)) and out["prediction"].between(0, 400).all()

    missing = cli(
        "predict",
        str(ROOT / "recipes/diabetes.yaml"),
        "--model",
        "runs:/" + "0" * 32 + "/model",
        "--input",
        "new.parquet",
        "--output",
        "x.parquet",
        cwd=cwd,
    )
    assert missing.returncode == 2
    assert "predict.model: model 'runs:/000" in missing.stderr and not (cwd / "x.parquet").exists()
