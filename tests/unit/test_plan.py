"""`mlscale plan`: what runs where, and refusing what could never be scheduled (no cluster needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import mlscale
from mlscale.engines.local import LocalEngine
from mlscale.engines.ray import RayEngine
from mlscale.recipe import EngineConfig, PredictConfig, TrainConfig, TuneConfig
from mlscale.workflow.run import plan

REPO = Path(__file__).resolve().parents[2]
BREAST = str(REPO / "recipes" / "breast_cancer.yaml")
CPUS = os.cpu_count() or 1


def _tune(**kw) -> TuneConfig:
    return TuneConfig(space={"eta": {"loguniform": [0.01, 0.3]}}, num_samples=4, **kw)


def test_local_plan_lists_every_phase():
    steps = dict(
        LocalEngine(EngineConfig()).plan(TrainConfig(), _tune(), PredictConfig(input="x.parquet")).steps
    )
    assert steps["train"] == f"1 process x {CPUS} xgboost threads on cpu"
    assert steps["tune"] == "4 trials, one at a time (tpe)"
    assert steps["predict"] == "streamed in batches of 65536 rows, one process"


def test_local_plan_notes_ignored_cluster_settings():
    p = LocalEngine(EngineConfig(workers=3)).plan(TrainConfig(), None, None)
    assert p.notes == ["engine local runs in this process: engine.workers is ignored"]
    assert p.problems == []


def test_ray_plan_for_a_new_local_instance_is_sized_to_the_machine():
    p = RayEngine(EngineConfig(name="ray", workers=CPUS)).plan(TrainConfig(), _tune(scheduler="asha"), None)
    steps = dict(p.steps)
    assert steps["cluster"].startswith(f"a new local Ray instance: 1 node(s), {CPUS} CPU")
    assert steps["train"] == f"1 worker(s) x {CPUS} CPU on cpu (actors)"
    assert steps["tune"] == f"4 trials x 1 CPU, {min(4, CPUS)} at a time (tpe, ASHA after 10 rounds)"
    assert p.problems == []


def test_ray_plan_refuses_more_workers_than_cpus():
    p = RayEngine(EngineConfig(name="ray", workers=CPUS + 1)).plan(TrainConfig(), None, None)
    assert p.problems == [
        f"engine.workers={CPUS + 1} is more than the cluster's {CPUS} CPU (1 node(s)); ask for at most {CPUS}"
    ]


def test_ray_plan_refuses_workers_that_do_not_fit():
    p = RayEngine(EngineConfig(name="ray", workers=CPUS + 1, cpus_per_worker=1)).plan(
        TrainConfig(), None, None
    )
    assert p.problems == [
        f"engine.workers={CPUS + 1} x engine.cpus_per_worker=1 does not fit the cluster "
        f"(1 node(s) with {CPUS} CPU)"
    ]


def test_ray_plan_refuses_gpus_the_cluster_lacks(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    p = RayEngine(EngineConfig(name="ray", gpus_per_worker=1)).plan(TrainConfig(), None, None)
    assert p.problems == ["engine.gpus_per_worker=1 x 1 worker(s) needs 1 GPU, the cluster has 0"]


def test_ray_plan_refuses_a_trial_larger_than_any_node():
    engine = RayEngine(EngineConfig(name="ray", cpus_per_worker=CPUS + 1, workers=1))
    p = engine.plan(TrainConfig(), _tune(), None)
    assert f"engine.cpus_per_worker={CPUS + 1}: a tune trial needs {CPUS + 1} CPU on one node, " in " ".join(
        p.problems
    )


def test_runner_plan_raises_one_line_with_the_file(tmp_path):
    with pytest.raises(mlscale.RecipeError) as err:
        plan(BREAST, engine="ray", overrides={"engine.workers": CPUS + 1, "engine.cpus_per_worker": 1})
    assert str(err.value).startswith(
        f"{BREAST}: engine.workers={CPUS + 1} x engine.cpus_per_worker=1 does not"
    )


def test_runner_plan_describes_parquet_without_reading_it(tmp_path):
    frame = pd.DataFrame({"a": range(10), "b": [0.5] * 10, "target": [0, 1] * 5})
    (tmp_path / "d").mkdir()
    frame.to_parquet(tmp_path / "d" / "p0.parquet")
    frame.to_parquet(tmp_path / "d" / "p1.parquet")
    result = plan(
        BREAST, overrides={"data": {"source": "parquet", "path": str(tmp_path / "d")}, "tune": None}
    )
    assert result.data["rows"] == 20 and result.data["columns"] == 3 and result.data["files"] == 2


def test_cli_plan_prints_table_and_refuses_with_exit_2():
    env = {**os.environ, "NO_COLOR": "1"}
    ok = subprocess.run(
        [sys.executable, "-m", "mlscale.cli", "plan", BREAST, "--engine", "ray"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=REPO,
    )
    assert ok.returncode == 0, ok.stderr
    assert "569 rows x 31 columns" in ok.stdout and "ok: the plan fits" in ok.stdout
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlscale.cli",
            "plan",
            BREAST,
            "--engine",
            "ray",
            "--set",
            f"engine.workers={CPUS + 1}",
            "--set",
            "engine.cpus_per_worker=1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=REPO,
    )
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "does not fit the cluster" in bad.stderr


def test_plan_without_address_does_not_import_ray():
    code = (
        "import sys; from mlscale.workflow.run import plan; "
        f"plan({BREAST!r}, engine='ray'); print('ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_plan_address_is_the_engines_address_key_and_counts_as_confirmation(tmp_path, monkeypatch):
    """`--address` sets the recipe's engine's cluster address as an override would (so a remote address the
    recipe also names is confirmed by it); an engine without a cluster refuses it in one line."""
    from mlscale.errors import RecipeError
    from mlscale.workflow import plan as planning

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLSCALE_TRUST_RECIPE", raising=False)
    (tmp_path / "r.yaml").write_text(
        "name: t\ndata: {source: sklearn, dataset: iris}\nengine: {name: ray, ray: {address: '10.9.9.9:6379'}}\n"
    )
    loaded = []
    monkeypatch.setattr(planning, "get_engine", lambda config: loaded.append(config) or _NoCluster())
    with pytest.raises(RecipeError, match="refused"):
        planning.plan("r.yaml", address="10.1.1.1:6379")
    assert loaded[0].ray.address == "10.1.1.1:6379"
    with pytest.raises(RecipeError, match="--address: engine local runs in this process, on no cluster"):
        planning.plan("r.yaml", engine="local", address="10.1.1.1:6379")


class _NoCluster:
    def start(self):
        from mlscale.errors import RecipeError

        raise RecipeError("refused: the test stops at the cluster")

    def stop(self):
        pass
