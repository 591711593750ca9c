"""Kill the driver mid-tune (SIGKILL), then `mlscale run --resume`: only the missing trials run,
the MLflow parent run is reused and no child run is duplicated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import LEAN_SET

ROOT = Path(__file__).resolve().parents[2]
MLSCALE = str(Path(sys.executable).parent / "mlscale")
N = 12


def _children(db: Path, experiment: str) -> list:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{db}")
    try:
        runs = mlflow.search_runs(experiment_names=[experiment])
    except Exception:
        return []
    if runs.empty or "tags.mlflow.parentRunId" not in runs:
        return []
    return runs[runs["tags.mlflow.parentRunId"].notna()].to_dict("records")


def _parents(db: Path, experiment: str):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{db}")
    runs = mlflow.search_runs(experiment_names=[experiment])
    return runs[runs["tags.mlflow.parentRunId"].isna()]


@pytest.mark.parametrize("engine", ["local"])
def test_killed_tune_resumes_only_missing_trials(engine, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    env = {**os.environ, "MLSCALE_HOME": str(tmp_path / "home")}
    args = [MLSCALE, "run", str(ROOT / "recipes/wine.yaml"), "-q", "--engine", engine,
            "--set", f"tune.num_samples={N}", "--set", "train.num_boost_round=400",
            "--set", "train.early_stopping_rounds=null", "--set", "train.eta=0.01", *LEAN_SET]  # fmt: skip
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)  # fmt: skip
    db = tmp_path / "mlflow.db"
    deadline = time.time() + 240
    while time.time() < deadline and len(_children(db, "wine")) < 3 and proc.poll() is None:
        time.sleep(0.3)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {c["tags.mlscale.trial_id"] for c in _children(db, "wine")}
    assert 3 <= len(before) < N
    interrupted = _parents(db, "wine")
    assert len(interrupted) == 1 and interrupted["status"].iloc[0] == "RUNNING"

    done = subprocess.run(
        [*args, "--resume"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    children = _children(db, "wine")
    ids = [c["tags.mlscale.trial_id"] for c in children]
    assert len(ids) == len(set(ids)), "a trial was logged twice"
    assert before <= set(ids)
    completed = [c for c in children if c["tags.mlscale.trial_status"] == "completed"]
    assert len(completed) == N
    parents = _parents(db, "wine")
    assert len(parents) == 1 and parents["run_id"].iloc[0] == interrupted["run_id"].iloc[0]
    assert parents["status"].iloc[0] == "FINISHED"
    # what the resumed process itself ran: only the missing trials, none of the finished ones again
    restored, ran = (
        parents["metrics.tune_trials_restored"].iloc[0],
        parents["metrics.tune_trials_run"].iloc[0],
    )
    assert restored >= len(before) and restored + ran == N, (restored, ran, len(before))


def test_resume_without_an_interrupted_run_is_an_input_error(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    done = subprocess.run([MLSCALE, "run", str(ROOT / "recipes/wine.yaml"), "--resume"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().endswith("--resume: no interrupted run of this recipe in experiment 'wine'")
