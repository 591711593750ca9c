"""Real signals on real processes: Ctrl-C on `mlscale run`, SIGKILL in the middle of `mlscale predict`.

Ctrl-C: exit 130, the MLflow run marked KILLED, no output file, nothing left holding the cluster.
Killed predict: nothing under the final name; the rerun has exactly one prediction per input row.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import LEAN_SET

ROOT = Path(__file__).resolve().parents[2]
MLSCALE = str(Path(sys.executable).parent / "mlscale")
LONG_TUNE = ["--set", "tune.num_samples=40", "--set", "train.num_boost_round=400",
             "--set", "train.early_stopping_rounds=null", "--set", "train.eta=0.01"]  # fmt: skip


def _runs(db: Path, experiment: str) -> pd.DataFrame:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{db}")
    try:
        return mlflow.search_runs(experiment_names=[experiment])
    except Exception:
        return pd.DataFrame()


def _wait_for(predicate, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if predicate():
            return
        time.sleep(0.05)
    assert proc.poll() is None, (
        f"the process ended before it could be interrupted: {proc.stderr.read()[-2000:]}"
    )
    raise AssertionError("timed out waiting for the run to reach the interrupt point")


def _free_cpus(address: str) -> float:
    code = (
        "import ray,sys; ray.init(address=sys.argv[1], logging_level='ERROR');"
        "print(ray.available_resources().get('CPU', 0))"
    )
    out = subprocess.run([sys.executable, "-c", code, address], capture_output=True, text=True, timeout=60)
    return float(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("engine", ["local", pytest.param("ray", marks=pytest.mark.ray)])
def test_ctrl_c_marks_the_run_killed_and_exits_130(engine, request, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    extra = ["--engine", engine]
    if engine == "ray":
        address = request.getfixturevalue("ray_cluster")
        extra += ["--set", f"engine.address={address}"]
    env = {**os.environ, "MLSCALE_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen(
        [MLSCALE, "run", str(ROOT / "recipes/wine.yaml"), *extra, *LONG_TUNE],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    db = tmp_path / "mlflow.db"

    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)
    reader.start()
    # Wait on the run's own log, not its database: opening a store that is being created races it.
    _wait_for(lambda: any(line.startswith("INFO trial ") for line in lines), proc)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
    try:
        proc.wait(timeout=90)
        reader.join(timeout=10)
        stderr = "".join(lines)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError("mlscale run did not stop within 90 s of Ctrl-C") from None
    assert proc.returncode == 130, stderr[-2000:]
    assert stderr.strip().splitlines()[-1] == "interrupted"
    runs = _runs(db, "wine")
    parent = runs[runs["tags.mlflow.parentRunId"].isna()]
    assert list(parent["status"]) == ["KILLED"]
    assert not (tmp_path / "output").exists()  # predict never started: no output, no temp file
    if engine == "ray":
        deadline = time.time() + 60
        while _free_cpus(address) < 2 and time.time() < deadline:
            time.sleep(2)
        assert _free_cpus(address) == 2, "trial workers still hold the cluster after Ctrl-C"


@pytest.fixture(scope="module")
def scored_model(tmp_path_factory):
    """A breast_cancer model logged to its own sqlite store, and 200k rows to score in 8 files."""
    home = tmp_path_factory.mktemp("predict_kill")
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    done = subprocess.run(
        [MLSCALE, "run", str(ROOT / "recipes/breast_cancer.yaml"), "-q", "--set", "tune=null",
         "--set", "predict=null", "--set", "train.num_boost_round=30", *LEAN_SET],
        cwd=home, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    run_id = _runs(home / "mlflow.db", "breast_cancer")["run_id"].iloc[0]
    from sklearn.datasets import load_breast_cancer

    base = load_breast_cancer(as_frame=True).frame.drop(columns=["target"])
    base.columns = [c.replace(" ", "_") for c in base.columns]
    rng = np.random.default_rng(0)
    (home / "in").mkdir()
    for part in range(8):
        frame = base.sample(25_000, replace=True, random_state=part).reset_index(drop=True)
        frame = frame * rng.uniform(0.95, 1.05, size=frame.shape)
        frame.insert(0, "row_id", range(part * 25_000, (part + 1) * 25_000))
        frame.to_parquet(home / "in" / f"part{part}.parquet")
    return home, run_id, env


@pytest.mark.parametrize("engine", ["local", pytest.param("ray", marks=pytest.mark.ray)])
def test_predict_killed_mid_write_then_rerun_scores_every_row_once(engine, request, scored_model):
    home, run_id, env = scored_model
    out = home / f"scored_{engine}.parquet"
    args = [MLSCALE, "predict", str(ROOT / "recipes/breast_cancer.yaml"), "--model", f"runs:/{run_id}/model",
            "--input", str(home / "in"), "--output", str(out), "--engine", engine,
            "--set", "predict.id_columns=[row_id]", "--set", "predict.batch_size=500"]  # fmt: skip
    if engine == "ray":
        args += ["--set", f"engine.address={request.getfixturevalue('ray_cluster')}"]
    proc = subprocess.Popen(args, cwd=home, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)  # fmt: skip
    _wait_for(lambda: any(home.glob(f".{out.name}.tmp-*")), proc)  # writing has started
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists(), "a partial file is visible under the final name"
    assert not (home / f"{out.name}.manifest.json").exists()

    done = subprocess.run(args, cwd=home, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    scored = pd.read_parquet(out)
    assert len(scored) == 200_000
    assert scored["row_id"].is_unique and set(scored["row_id"]) == set(range(200_000))
    assert scored["probability"].between(0, 1).all()
    assert list(home.glob(f".{out.name}.tmp-*")) == []  # the killed run's temp file was cleaned up


def _stop_with_sigterm(proc: subprocess.Popen, lines: list[str], reader: threading.Thread) -> str:
    """SIGTERM to the process alone, as `ray job stop`, Kubernetes or Slurm send it; the stderr it wrote."""
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError("mlscale did not stop within 90 s of SIGTERM") from None
    reader.join(timeout=10)
    return "".join(lines)


@pytest.mark.parametrize("engine", ["local", pytest.param("ray", marks=pytest.mark.ray)])
def test_sigterm_marks_the_run_killed_and_exits_143(engine, request, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    extra = ["--engine", engine]
    if engine == "ray":
        address = request.getfixturevalue("ray_cluster")
        extra += ["--set", f"engine.address={address}"]
    env = {**os.environ, "MLSCALE_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen(
        [MLSCALE, "run", str(ROOT / "recipes/wine.yaml"), *extra, *LONG_TUNE],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)
    reader.start()
    _wait_for(lambda: any(line.startswith("INFO trial ") for line in lines), proc)
    stderr = _stop_with_sigterm(proc, lines, reader)
    assert proc.returncode == 143, stderr[-2000:]
    assert stderr.strip().splitlines()[-1] == "terminated"
    runs = _runs(tmp_path / "mlflow.db", "wine")
    parent = runs[runs["tags.mlflow.parentRunId"].isna()]
    assert list(parent["status"]) == ["KILLED"]
    assert list(parent["tags.mlscale.error"]) == ["interrupted (SIGTERM)"]
    assert not (tmp_path / "output").exists()
    if engine == "ray":
        deadline = time.time() + 60
        while _free_cpus(address) < 2 and time.time() < deadline:
            time.sleep(2)
        assert _free_cpus(address) == 2, "trial workers still hold the cluster after SIGTERM"


def test_sigterm_mid_predict_leaves_no_file_and_exits_143(scored_model):
    home, run_id, env = scored_model
    out = home / "scored_sigterm.parquet"
    args = [MLSCALE, "predict", str(ROOT / "recipes/breast_cancer.yaml"), "--model", f"runs:/{run_id}/model",
            "--input", str(home / "in"), "--output", str(out), "--set", "predict.id_columns=[row_id]",
            "--set", "predict.batch_size=500"]  # fmt: skip
    proc = subprocess.Popen(args, cwd=home, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)
    reader.start()
    _wait_for(lambda: any(home.glob(f".{out.name}.tmp-*")), proc)  # writing has started
    stderr = _stop_with_sigterm(proc, lines, reader)
    assert proc.returncode == 143, stderr[-2000:]
    assert stderr.strip().splitlines()[-1] == "terminated"
    assert not out.exists() and list(home.glob(f".{out.name}.tmp-*")) == []  # the temp file was removed
