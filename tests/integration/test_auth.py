"""Token authentication as users meet it: RAY_AUTH_MODE unset, the token only in a file, or no token at all.

The session fixture exports RAY_AUTH_MODE=token for every test; these run `mlscale` in a process without it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import LEAN_SET

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[2]
MLSCALE = str(Path(sys.executable).parent / "mlscale")
SMALL = ["--set", "train.num_boost_round=5", "--set", "predict=null", "-q", *LEAN_SET]


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_AUTH", "MLFLOW_TRACKING_URI"))}
    return {**env, "HOME": str(home), **extra}  # a HOME of its own: no ~/.ray/auth_token to fall back on


def _run(address: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MLSCALE, "run", str(ROOT / "recipes/diabetes.yaml"), "--engine", "ray",
         "--set", f"engine.address={address}", *SMALL],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_a_token_file_is_enough_without_ray_auth_mode(ray_cluster, ray_auth_env, tmp_path):
    """Only RAY_AUTH_TOKEN_PATH is set, as after copying the head's token: mlscale turns token mode on."""
    env = _env(tmp_path, RAY_AUTH_TOKEN_PATH=ray_auth_env["RAY_AUTH_TOKEN_PATH"])
    done = _run(ray_cluster, env, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "test_rmse" in done.stdout


def test_the_token_in_home_is_found(ray_cluster, ray_auth_env, tmp_path):
    """Ray's default place, ~/.ray/auth_token, with nothing exported."""
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text(Path(ray_auth_env["RAY_AUTH_TOKEN_PATH"]).read_text())
    done = _run(ray_cluster, _env(tmp_path), tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]


def test_no_token_anywhere_says_what_to_export(ray_cluster, tmp_path):
    done = _run(ray_cluster, _env(tmp_path), tmp_path)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr[-3000:]
    assert errors[0].startswith(f"error: ray: cannot connect to {ray_cluster}")
    assert "export RAY_AUTH_MODE=token" in errors[0] and "RAY_AUTH_TOKEN" in errors[0]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "output").exists()
