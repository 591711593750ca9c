"""`mlscale init` and `mlscale kuberay` in process: files written whole, never overwritten."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import CliResult

from mlscale.recipe import load_recipe

REPO = Path(__file__).resolve().parents[2]
_CLI: dict[str, Any] = {}


@pytest.fixture(autouse=True)
def _in_process(run_cli: Any) -> None:
    _CLI["run"] = run_cli


def cli(*args: str, cwd: Path) -> CliResult:
    return _CLI["run"](*args, cwd=cwd)


def test_init_writes_a_recipe_that_validates_and_refuses_to_overwrite(tmp_path):
    done = cli("init", "--task", "multiclass", "--out", "r.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert load_recipe(tmp_path / "r.yaml").task == "multiclass"
    again = cli("init", "--out", "r.yaml", cwd=tmp_path)
    assert again.returncode == 2
    assert again.stderr == "error: --out: r.yaml exists; pass --force to overwrite it\n"
    assert load_recipe(tmp_path / "r.yaml").task == "multiclass"  # untouched
    forced = cli("init", "--task", "regression", "--out", "r.yaml", "--force", cwd=tmp_path)
    assert forced.returncode == 0 and load_recipe(tmp_path / "r.yaml").task == "regression"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.yaml"]  # no temp files left


def test_init_prints_to_stdout_without_out(tmp_path):
    done = cli("init", cwd=tmp_path)
    assert done.returncode == 0
    assert yaml.safe_load(done.stdout)["data"]["dataset"] == "breast_cancer"


def test_kuberay_renders_a_rayjob_with_overrides(tmp_path):
    done = cli(
        "kuberay",
        str(REPO / "recipes/breast_cancer.yaml"),
        "--set",
        "engine.workers=3",
        "--namespace",
        "ml",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    config_map, job = list(yaml.safe_load_all(done.stdout))
    assert config_map["kind"] == "ConfigMap" and job["kind"] == "RayJob"
    assert job["metadata"]["namespace"] == "ml"
    assert job["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["replicas"] == 3


def test_kuberay_bad_override_is_one_line_exit_2(tmp_path):
    done = cli("kuberay", str(REPO / "recipes/breast_cancer.yaml"), "--set", "engine.workers=0", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "engine.workers" in done.stderr


def test_submit_needs_an_http_address(tmp_path):
    done = cli(
        "submit", str(REPO / "recipes/breast_cancer.yaml"), "--address", "127.0.0.1:6379", cwd=tmp_path
    )
    assert done.returncode == 2
    assert "--address must be the Ray dashboard's http://host:port" in done.stderr
