"""The `mlscale` command end to end, as a user types it (subprocess, real files, sqlite MLflow)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import LEAN_SET

ROOT = Path(__file__).resolve().parents[2]
MLSCALE = str(Path(sys.executable).parent / "mlscale")


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([MLSCALE, *args], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def test_breast_cancer_demo_meets_the_bar(cwd):
    """The README's main job: trains, tunes 8 trials, predicts. The bar: test AUC >= 0.97 and within one point
    of the HistGradientBoosting reference scored on the same 114 test rows (one row moves AUC by up to ~0.01,
    so a fixed bar alone would test the split, not the model)."""
    done = cli("run", str(ROOT / "recipes/breast_cancer.yaml"), cwd=cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "test_auc" in done.stdout
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{cwd}/mlflow.db")
    runs = mlflow.search_runs(experiment_names=["breast_cancer"])
    parent = runs[runs["tags.mlflow.parentRunId"].isna()]
    assert len(parent) == 1 and len(runs) == 1 + 8
    auc = parent["metrics.test_auc"].iloc[0]
    assert auc >= 0.97 and auc >= parent["metrics.reference_test_auc"].iloc[0] - 0.01
    out = pd.read_parquet(cwd / "output/breast_cancer/predictions.parquet")
    assert list(out.columns) == ["prediction", "probability"] and len(out) == 114  # the test split
    _assert_plots(cwd / "output/breast_cancer/plots", PLOTS["binary"], parent["run_id"].iloc[0], cwd)
    assert "view" in done.stdout and "/#/experiments/" in done.stdout  # the run's MLflow UI address


ALWAYS = {"feature_importance.png", "learning_curve.png"}
TUNED = {"tune_trials.png", "tune_params.png"}
PLOTS = {
    "binary": ALWAYS | TUNED | {"predicted_vs_truth.png", "roc_pr.png", "confusion_matrix.png"},
    "multiclass": ALWAYS | TUNED | {"confusion_matrix.png"},
    "regression": ALWAYS | {"predicted_vs_actual.png"},  # the diabetes recipe does not tune
}


def _assert_plots(folder: Path, expected: set[str], run_id: str, cwd: Path) -> None:
    """Every plot the README promises for the task: a real PNG next to the output and in the run."""
    assert {p.name for p in folder.glob("*.png")} == expected
    for png in folder.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000, png
    from mlflow.tracking import MlflowClient

    logged = {
        Path(a.path).name for a in MlflowClient(f"sqlite:///{cwd}/mlflow.db").list_artifacts(run_id, "plots")
    }
    assert logged == expected


@pytest.mark.parametrize(("name", "task"), [("wine", "multiclass"), ("diabetes", "regression")])
def test_recipes_run_with_overrides(name, task, cwd):
    sets = ["--set", "train.num_boost_round=30"] + (["--set", "tune.num_samples=2"] if name == "wine" else [])
    done = cli("run", str(ROOT / f"recipes/{name}.yaml"), "-q", *sets, cwd=cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "time_total_s" in done.stdout
    assert done.stderr == ""  # -q: the summary only, no log lines, no Ray/MLflow chatter
    assert list((cwd / "output" / name).glob("predictions.*"))
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{cwd}/mlflow.db")
    runs = mlflow.search_runs(experiment_names=[name])
    if "tags.mlflow.parentRunId" in runs:  # only when the recipe tunes
        runs = runs[runs["tags.mlflow.parentRunId"].isna()]
    run_id = runs["run_id"].iloc[0]
    _assert_plots(cwd / "output" / name / "plots", PLOTS[task], run_id, cwd)


def test_a_run_that_fails_after_it_started_is_marked_failed_and_writes_nothing(cwd):
    """A CSV whose last row is ragged fails only while predicting, after training was logged: the
    pre-flight check reads the header and the first block (1 MB), not the whole file."""
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame.drop(columns=["target"])
    frame = pd.concat([frame] * 30, ignore_index=True)  # ~2.5 MB: the bad row is past the first block
    text = frame.to_csv(index=False) + "0.1,0.2\n"  # 2 fields where the header has 10
    (cwd / "new.csv").write_text(text)
    done = cli("run", str(ROOT / "recipes/diabetes.yaml"), "--set", "train.num_boost_round=10",
               "--set", "predict.input=new.csv", "--set", "predict.output=out/scored.csv",
               "--set", "predict.id_columns=[]", cwd=cwd)  # fmt: skip
    assert done.returncode == 2, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "new.csv" in errors[0] and "Traceback" not in done.stderr, done.stderr
    # no partial or temp prediction file; the plots of the trained model are complete files, kept with the run
    assert sorted(p.name for p in (cwd / "out").iterdir()) == ["plots"]
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{cwd}/mlflow.db")
    runs = mlflow.search_runs(experiment_names=["diabetes"])
    assert list(runs["status"]) == ["FAILED"]
    assert runs["tags.mlscale.error"].iloc[0].startswith("DataError: ")
    assert "new.csv" in runs["tags.mlscale.error"].iloc[0]
    assert runs["metrics.test_rmse"].iloc[0] > 0 and runs["metrics.time_train_s"].iloc[0] > 0  # work kept
    assert runs["metrics.time_predict_s"].iloc[0] > 0 and "metrics.time_total_s" not in runs


def test_an_unreachable_ray_address_fails_in_seconds_with_one_line(cwd):
    from conftest import free_port

    port = free_port()
    done = cli("run", str(ROOT / "recipes/diabetes.yaml"), "--engine", "ray",
               "--set", f"engine.address=127.0.0.1:{port}", cwd=cwd)  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"error: ray: cannot connect to 127.0.0.1:{port} (nothing answers there: Connection refused); "
        "check engine.ray.address and that the cluster is up"
    ]
    assert not (cwd / "output").exists()
    if (cwd / "mlflow.db").exists():  # the store may exist; no run was started in it
        import mlflow

        mlflow.set_tracking_uri(f"sqlite:///{cwd}/mlflow.db")
        assert mlflow.search_runs(search_all_experiments=True).empty


def test_bad_input_exits_2_with_one_line_and_creates_nothing(cwd):
    done = cli("run", str(ROOT / "recipes/diabetes.yaml"), "--set", "data.features=[age, bmi, bpp]", cwd=cwd)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines == [
        f"error: {ROOT}/recipes/diabetes.yaml: data.features: column 'bpp' not found (did you mean 'bp'?)"
    ]
    assert not (cwd / "mlflow.db").exists() and not (cwd / "output").exists()


def test_predict_command_with_a_logged_model(cwd):
    done = cli(
        "run",
        str(ROOT / "recipes/diabetes.yaml"),
        "-q",
        "--set",
        "train.num_boost_round=20",
        *LEAN_SET,
        cwd=cwd,
    )
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


def test_library_noise_stays_out_unless_verbose(cwd):
    """Default: mlscale's own log lines only. --verbose: MLflow's (and Ray's) own output as well."""
    args = [
        "run",
        str(ROOT / "recipes/diabetes.yaml"),
        "--set",
        "train.num_boost_round=5",
        "--set",
        "predict=null",
    ]
    plain = cli(*args, cwd=cwd)
    assert plain.returncode == 0, plain.stderr[-3000:]
    lines = plain.stderr.splitlines()
    assert lines and all(line.startswith(("INFO ", "WARNING ")) for line in lines), lines
    assert "mlflow.store" not in plain.stderr and "Downloading artifacts" not in plain.stderr
    (cwd / "mlflow.db").unlink()
    verbose = cli(*args, "-v", cwd=cwd)
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    assert "INFO mlflow.store.db.utils: Creating initial MLflow database tables" in verbose.stderr


def test_odd_column_and_metric_names_are_logged_under_names_mlflow_accepts(cwd):
    """A categorical column 'income ($)' with values unseen in training and an eval metric 'error@0.7':
    MLflow refuses both as metric names; the run finishes with them logged under acceptable names."""
    import numpy as np

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=400), "income ($)": rng.choice(["low", "high"], 400)})
    frame["target"] = ((frame["x"] > 0) ^ (frame["income ($)"] == "low")).astype(int)
    frame.to_csv(cwd / "d.csv", index=False)
    new = frame.drop(columns=["target"]).head(50).assign(**{"income ($)": "unknown"})
    new.to_csv(cwd / "new.csv", index=False)
    (cwd / "r.yaml").write_text(
        "name: odd\ndata: {source: csv, path: d.csv, categorical: ['income ($)']}\ntask: binary\n"
        "train: {num_boost_round: 5, eval_metric: [error@0.7, logloss]}\n"
        "predict: {input: new.csv, output: out/p.csv}\n"
    )
    done = cli("run", "r.yaml", "-q", *LEAN_SET, cwd=cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{cwd}/mlflow.db")
    runs = mlflow.search_runs(experiment_names=["odd"])
    assert list(runs["status"]) == ["FINISHED"]
    assert runs["metrics.predict_unseen_income ___"].iloc[0] == 50
    assert runs["metrics.curve_valid_error_0.7"].iloc[0] >= 0


@pytest.mark.ray
def test_quiet_on_ray_prints_only_the_summary(cwd):
    """-q on engine ray: no Ray lines (token mode notice, C++ log-level line, Ray Data deprecation)."""
    done = cli("run", str(ROOT / "recipes/wine.yaml"), "--engine", "ray", "-q", "--set", "tune.num_samples=2",
               "--set", "train.num_boost_round=20", cwd=cwd)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "time_total_s" in done.stdout
    assert done.stderr == ""
