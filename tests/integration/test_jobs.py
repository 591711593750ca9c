"""Ray Jobs against the session cluster's real dashboard (token auth on), logging to a real MLflow server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import LEAN_SET

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SMALL = [
    "--set",
    "train.num_boost_round=20",
    "--set",
    "tune.num_samples=2",
    "--set",
    "predict=null",
    *LEAN_SET,
]


def _env(mlflow_server: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FORCE_COLOR", "CLICOLOR"))}
    return {**env, "NO_COLOR": "1", "MLFLOW_TRACKING_URI": mlflow_server, **extra}


def _runs(uri: str, experiment: str) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    return client.search_runs([exp.experiment_id], filter_string="tags.engine = 'ray'")


def test_mlscale_submit_runs_the_recipe_as_a_job_and_waits(ray_head, mlflow_server, tmp_path):
    experiment = "submit_test"
    done = subprocess.run(
        [str(BIN / "mlscale"), "submit", str(ROOT / "recipes/breast_cancer.yaml"), "--engine", "ray",
         "--address", ray_head.dashboard, *SMALL, "--set", f"mlflow.experiment={experiment}"],
        capture_output=True, text=True, timeout=300, env=_env(mlflow_server), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "SUCCEEDED" in done.stdout
    assert "mlscale run breast_cancer (ray)" in done.stdout  # the job's own summary, streamed back
    runs = _runs(mlflow_server, experiment)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    run = parents[0]
    assert run.info.status == "FINISHED"
    assert run.data.tags["cluster.nodes"] == "2"  # joined the cluster (engine.address=auto), no new Ray
    assert "test_auc" in run.data.metrics


def test_ray_job_submit_runs_mlscale_run(ray_head, mlflow_server, tmp_path):
    """The documented plain-Ray path: `ray job submit --working-dir . -- mlscale run recipe.yaml`."""
    recipe = yaml.safe_load((ROOT / "recipes/diabetes.yaml").read_text())
    recipe["engine"] = {"name": "ray", "address": "auto"}
    recipe["train"]["num_boost_round"] = 20
    recipe["predict"] = None
    recipe["mlflow"] = {"experiment": "ray_job_submit_test"}
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    done = subprocess.run(
        [str(BIN / "ray"), "job", "submit", "--address", ray_head.dashboard, "--working-dir", str(tmp_path),
         "--runtime-env-json", json.dumps({"env_vars": {"MLFLOW_TRACKING_URI": mlflow_server}}),
         "--", str(BIN / "mlscale"), "run", "recipe.yaml"],
        capture_output=True, text=True, timeout=300, env=_env(mlflow_server), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "succeeded" in done.stdout.lower()
    runs = _runs(mlflow_server, "ray_job_submit_test")
    assert [r.info.status for r in runs] == ["FINISHED"]
    assert "test_rmse" in runs[0].data.metrics


def test_submit_with_a_wrong_token_fails_in_one_line(ray_head, mlflow_server, tmp_path):
    done = subprocess.run(
        [str(BIN / "mlscale"), "submit", str(ROOT / "recipes/diabetes.yaml"), "--address", ray_head.dashboard],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env=_env(mlflow_server, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="0" * 64),
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"error: ray jobs: {ray_head.dashboard} refused the request: ")
    assert "RAY_AUTH_MODE=token" in done.stderr and "0" * 64 not in done.stderr


def test_submit_validates_before_submitting(ray_head, tmp_path):
    from ray.job_submission import JobSubmissionClient

    before = len(JobSubmissionClient(ray_head.dashboard).list_jobs())
    done = subprocess.run(
        [str(BIN / "mlscale"), "submit", str(ROOT / "recipes/diabetes.yaml"), "--address", ray_head.dashboard,
         "--set", "train.max_depth=-1"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert "train.max_depth" in done.stderr and done.stderr.count("\n") == 1
    assert len(JobSubmissionClient(ray_head.dashboard).list_jobs()) == before


def test_a_failed_job_exits_non_zero_and_ray_auth_mode_may_be_unset(
    ray_head, ray_auth_env, mlflow_server, tmp_path
):
    """Only the token file is named (no RAY_AUTH_MODE): submit still authenticates; the job fails in its
    preprocess hook, which exists nowhere, and the command says so with a non-zero exit."""
    env = {k: v for k, v in _env(mlflow_server).items() if k != "RAY_AUTH_MODE"}
    done = subprocess.run(
        [str(BIN / "mlscale"), "submit", str(ROOT / "recipes/diabetes.yaml"), "--engine", "ray",
         "--address", ray_head.dashboard, "--set", "data.preprocess=no_such_module_xyz:clean",
         "--set", "predict=null"],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "FAILED" in done.stdout + done.stderr
    assert "no_such_module_xyz" in done.stdout + done.stderr  # the job's own error, streamed back


def test_ray_job_stop_marks_the_run_killed_and_leaves_no_copies(ray_head, mlflow_server, tmp_path):
    """`ray job stop` sends SIGTERM to the job's processes (SIGKILL later): the run ends KILLED, and
    neither the package copy nor the working-dir copy stays in the node's temp dir."""
    import tempfile
    import time

    from ray.job_submission import JobSubmissionClient

    experiment = "job_stop_test"
    tmp = Path(tempfile.gettempdir())

    def copies() -> set[str]:
        return {p.name for p in (*tmp.glob("mlscale-lib-*"), *tmp.glob("mlscale-job-*"))}

    before = copies()
    done = subprocess.run(
        [str(BIN / "mlscale"), "submit", str(ROOT / "recipes/breast_cancer.yaml"), "--engine", "ray",
         "--address", ray_head.dashboard, "--no-wait", "--set", "predict=null",
         "--set", "train.num_boost_round=100000", "--set", "train.early_stopping_rounds=null",
         "--set", "train.eta=0.001", "--set", f"mlflow.experiment={experiment}"],
        capture_output=True, text=True, timeout=120, env=_env(mlflow_server), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    import re

    client = JobSubmissionClient(ray_head.dashboard)
    job_id = re.search(r"submitted: (mlscale-[0-9a-f]+)", done.stdout + done.stderr).group(1)
    deadline = time.time() + 180
    while not _runs(mlflow_server, experiment) and time.time() < deadline:
        time.sleep(1)
    time.sleep(3)  # into training
    assert client.stop_job(job_id)
    while not client.get_job_status(job_id).is_terminal() and time.time() < deadline:
        time.sleep(1)
    parents = [r for r in _runs(mlflow_server, experiment) if "mlflow.parentRunId" not in r.data.tags]
    assert [r.info.status for r in parents] == ["KILLED"]
    while copies() - before and time.time() < deadline:
        time.sleep(1)
    assert copies() - before == set()
