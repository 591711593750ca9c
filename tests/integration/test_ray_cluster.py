"""The ray engine against a real 2-node cluster (1 CPU per node) with token auth on."""

from __future__ import annotations

import contextlib

import pandas as pd
import pytest
from conftest import LEAN, LEAN_SET

import mlscale
from mlscale.tracking.models import load_model

pytestmark = pytest.mark.ray

RECIPES = "recipes"
SMALL = {"tune.num_samples": 3, "train.num_boost_round": 60}


def _run(name: str, progress=None, **overrides):
    """A run of a shipped recipe without plots, reference and SHAP (no test here looks at them)."""
    overrides = {**LEAN, **overrides}
    if name == "diabetes":  # no tune section
        overrides = {k: v for k, v in overrides.items() if not k.startswith("tune.")}
    return mlscale.run(f"{mlscale_root()}/{RECIPES}/{name}.yaml", overrides=overrides, progress=progress)


def mlscale_root() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parents[2])


@pytest.fixture(scope="module")
def local_results(tmp_path_factory):
    """Local-engine reference metrics for the parity checks."""
    import os

    here = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("local"))
    try:
        return {name: _run(name, **SMALL) for name in ("breast_cancer", "wine", "diabetes")}
    finally:
        os.chdir(here)


@pytest.mark.parametrize("name", ["breast_cancer", "wine", "diabetes"])
def test_parity_and_placement(name, ray_cluster, local_results, workdir):
    events: list[tuple[str, dict]] = []
    result = _run(
        name,
        progress=lambda k, i: events.append((k, dict(i))),
        **SMALL,
        **{"engine.name": "ray", "engine.address": ray_cluster, "engine.workers": 2},
    )
    assert result.cluster.nodes == 2
    rounds = [i["round"] for k, i in events if k == "round"]  # from rank 0, polled while it trains
    run_rounds = _client(result).get_run(result.run_id).data.metrics["rounds"]
    assert rounds and rounds == sorted(rounds) and rounds[-1] == run_rounds, (rounds, run_rounds)
    rows = [i for k, i in events if k == "rows"]
    assert rows[-1]["done"] == rows[-1]["total"] > 0
    ref = local_results[name]
    for key, value in ref.metrics.items():
        if not key.startswith("test_"):
            continue
        if key.endswith(("auc", "accuracy")):
            assert abs(result.metrics[key] - value) <= 0.005 + 0.03, (key, result.metrics[key], value)
        if key.endswith("rmse"):
            assert abs(result.metrics[key] - value) / value <= 0.10, (key, result.metrics[key], value)
    client = _client(result)
    run = client.get_run(result.run_id)
    placement = run.data.tags["train.placement"].split(";")
    assert len(placement) == 2 and len({p.split("@")[1] for p in placement}) == 2  # one worker per node
    children = client.search_runs(
        [run.info.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{result.run_id}'"
    )
    assert len(children) == (0 if name == "diabetes" else 3)
    out = (
        pd.read_parquet(result.output_path)
        if str(result.output_path).endswith("parquet")
        else pd.read_csv(result.output_path)
    )
    local_out = ref.output_path
    assert len(out) == len(
        pd.read_parquet(local_out) if str(local_out).endswith("parquet") else pd.read_csv(local_out)
    )


# The issue's parity bar, for training alone (same seed and data): 0.5 % for AUC/accuracy, 2 % relative for
# RMSE. Measured on this cluster with 2 workers: breast_cancer and wine train the very same trees as local;
# diabetes differs by 1.3 % in RMSE (xgboost merges the two workers' quantile sketches); synthetic_higgs at
# 100k rows by 0.05 points of AUC. With tuning the engines' samplers pick different trials, so
# test_parity_and_placement above allows more.
TRAIN_ONLY = {"tune": None, "train.num_boost_round": 60}


def _outputs(result) -> pd.DataFrame:
    path = str(result.output_path)
    return pd.read_parquet(path) if path.endswith("parquet") else pd.read_csv(path)


@pytest.mark.parametrize("name", ["breast_cancer", "wine", "diabetes"])
def test_training_parity_within_the_issue_tolerance(name, ray_cluster, workdir):
    local = _run(name, **TRAIN_ONLY, **{"predict.output": "local/out.parquet"})
    ray = _run(name, **TRAIN_ONLY, **{"predict.output": "ray/out.parquet", "engine.name": "ray",
                                      "engine.address": ray_cluster, "engine.workers": 2})  # fmt: skip
    assert set(ray.metrics) == set(local.metrics)
    for key, value in local.metrics.items():
        if key.startswith("test_") and key.endswith(("auc", "accuracy")):
            assert abs(ray.metrics[key] - value) <= 0.005, (key, ray.metrics[key], value)
        if key.startswith("test_") and key.endswith("rmse"):
            assert abs(ray.metrics[key] - value) / value <= 0.02, (key, ray.metrics[key], value)
    ours, theirs = _outputs(ray), _outputs(local)
    assert list(ours.columns) == list(theirs.columns) and list(ours.dtypes) == list(theirs.dtypes)
    assert len(ours) == len(theirs)


def test_one_worker_trains_the_local_model_and_writes_the_same_predictions(ray_cluster, workdir):
    local = _run("breast_cancer", **TRAIN_ONLY, **{"predict.output": "local/out.parquet"})
    ray = _run("breast_cancer", **TRAIN_ONLY, **{"predict.output": "ray/out.parquet", "engine.name": "ray",
                                                 "engine.address": ray_cluster})  # fmt: skip
    assert ray.output_path != local.output_path
    assert ray.booster.get_dump() == local.booster.get_dump()  # tree for tree
    pd.testing.assert_frame_equal(_outputs(ray), _outputs(local))  # Ray Data predict: same rows, same values


def _client(result):
    from mlflow.tracking import MlflowClient

    return MlflowClient(result.tracking_uri)


def test_predict_tasks_on_both_nodes(ray_cluster, workdir):
    """Inference from a parquet directory into one file: a task per input file, spread over both nodes;
    the driver writes every row once, in the input's order (file by file)."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame.insert(0, "row_id", range(len(frame)))
    (workdir / "in").mkdir()
    for i in range(4):
        frame.iloc[i::4].to_parquet(workdir / "in" / f"part{i}.parquet")
    trained = mlscale.run(
        f"{mlscale_root()}/recipes/breast_cancer.yaml",
        overrides={"tune": None, "predict": None, "train.num_boost_round": 30, **LEAN},
    )
    from mlscale.engines.ray import RayEngine
    from mlscale.recipe import EngineConfig, PredictConfig

    engine = RayEngine(EngineConfig(name="ray", address=ray_cluster))
    engine.start()
    try:
        model = load_model(f"runs:/{trained.run_id}/model", tracking_uri=trained.tracking_uri)
        cfg = PredictConfig(
            input=str(workdir / "in"),
            output=str(workdir / "out.parquet"),
            id_columns=["row_id"],
            batch_size=32,
        )
        seen: list[dict] = []
        result = engine.predict(
            model, cfg, data=None, where="test", progress=lambda k, i: seen.append(dict(i))
        )
    finally:
        engine.stop()
    out = pd.read_parquet(workdir / "out.parquet")
    assert result.rows == len(frame) == len(out)
    assert seen[0] == {"done": 0, "total": len(frame)} and seen[-1] == {
        "done": len(frame),
        "total": len(frame),
    }
    assert out["row_id"].tolist() == [r for i in range(4) for r in frame["row_id"].iloc[i::4]]
    assert len(result.placement) == 4 and len({p.node for p in result.placement}) == 2  # both nodes
    assert sum(p.rows or 0 for p in result.placement) == len(frame)
    local, _ = model.predict_frame(
        frame.set_index("row_id").loc[out["row_id"]].reset_index(), id_columns=["row_id"]
    )
    pd.testing.assert_series_equal(
        out["probability"], local["probability"], check_names=False, check_dtype=False
    )


@pytest.mark.parametrize("output", ["out.parquet", "parts/"])
def test_a_bad_input_file_fails_the_predict_and_leaves_no_output(ray_cluster, workdir, output):
    """One of three input files lacks a feature: its task's DataError reaches the caller as one line, the
    other tasks are cancelled and nothing is left under the output's name or as a temp file."""
    from sklearn.datasets import load_breast_cancer

    from mlscale.data import prepare
    from mlscale.engines.local import LocalEngine
    from mlscale.engines.ray import RayEngine
    from mlscale.errors import DataError
    from mlscale.recipe import EngineConfig, PredictConfig, load_recipe

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    recipe = load_recipe(f"{mlscale_root()}/recipes/breast_cancer.yaml", overrides={"tune": None})
    data = prepare(recipe, frame, source="r.yaml")
    model = LocalEngine(EngineConfig()).train(data, recipe.train).model
    inputs = workdir / "in"
    inputs.mkdir()
    features = frame.drop(columns=["target"])
    for i in range(3):
        part = features.iloc[i::3]
        (part.drop(columns=["mean_radius"]) if i == 1 else part).to_parquet(inputs / f"part{i}.parquet")
    engine = RayEngine(EngineConfig(name="ray", address=ray_cluster))
    engine.start()
    try:
        cfg = PredictConfig(input=str(inputs), output=str(workdir / output), batch_size=50)
        with pytest.raises(
            DataError, match=r"^r\.yaml: predict\.input: missing feature column\(s\) 'mean_radius'$"
        ):
            engine.predict(model, cfg, data=None, where="r.yaml: predict")
    finally:
        engine.stop()
    assert sorted(p.name for p in workdir.iterdir() if p.name != "mlflow.db") == ["in"]


def _registered_checkpoint(storage) -> bool:
    """Ray Train V2 writes checkpoint_manager_snapshot.json when its controller registers a checkpoint;
    a checkpoint merely uploaded (model.ubj present) may not be registered yet, and a restart then
    begins at round 0 (what this test saw in 2 of 3 runs when it killed on uploaded files)."""
    import json

    for snapshot in storage.rglob("checkpoint_manager_snapshot.json"):
        try:
            if json.loads(snapshot.read_text()).get("latest_checkpoint_result"):
                return True
        except (OSError, ValueError):
            continue
    return False


def _train_workers(nodes: list) -> list:
    """The Ray Train worker processes under the given node processes."""
    import psutil

    found = []
    for node in nodes:
        with contextlib.suppress(psutil.NoSuchProcess):
            for proc in node.children(recursive=True):
                with contextlib.suppress(psutil.NoSuchProcess):
                    if "RayTrainWorker" in " ".join(proc.cmdline()):
                        found.append(proc)
    return found


def test_killed_train_worker_retries_from_checkpoint(ray_head, workdir):
    """SIGKILL a Ray Train worker mid-run: the run completes from the last checkpoint, failures logged."""
    import threading
    import time

    from conftest import _own_processes

    ray_cluster = ray_head.address
    nodes = _own_processes(list(ray_head.markers))  # the session cluster's, not another test's Ray
    storage = workdir / "ckpt"
    killed: list[int] = []

    def killer() -> None:
        deadline = time.time() + 240
        while time.time() < deadline and not killed:
            if _registered_checkpoint(storage):  # the controller has it: a restart must resume from it
                for proc in _train_workers(nodes):
                    proc.kill()
                    killed.append(proc.pid)
                    return
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    rounds: list[int] = []
    result = mlscale.run(
        f"{mlscale_root()}/recipes/synthetic_higgs.yaml",
        progress=lambda k, i: rounds.append(i["round"]) if k == "round" else None,
        overrides={
            **LEAN,
            "data.synthetic.n_rows": 50000,
            "tune": None,
            "predict": None,
            "train.num_boost_round": 60,
            "train.max_depth": 6,
            "engine.name": "ray",
            "engine.address": ray_cluster,
            "engine.workers": 2,
            "engine.max_failures": 2,
            "engine.report_every": 10,
            "engine.storage_path": str(storage),
        },
    )
    thread.join(timeout=5)
    assert killed, "no Ray Train worker was found to kill"
    run = _client(result).get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["train_failures"] >= 1
    resumed = run.data.metrics["train_resumed_from_round"]
    assert resumed >= 10 and resumed % 10 == 0, resumed  # from a checkpoint, not from round 0
    assert run.data.metrics["rounds"] == 60
    assert len(rounds) > 2 and rounds[-1] == 60 and all(1 <= r <= 60 for r in rounds)  # Ray Train path too
    assert result.metrics["test_auc"] > 0.8


def test_killed_tune_driver_resumes_on_the_cluster(ray_cluster, workdir):
    """SIGKILL the driver (`mlscale run`) mid-tune, then --resume: Tuner.restore finishes the missing trials."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    env = {**os.environ, "MLSCALE_HOME": str(workdir / "home")}
    n = 8
    args = [str(Path(sys.executable).parent / "mlscale"), "run", f"{mlscale_root()}/recipes/wine.yaml", "-q",
            "--set", "engine.name=ray", "--set", f"engine.address={ray_cluster}", "--set", f"tune.num_samples={n}",
            "--set", "train.num_boost_round=3000", "--set", "train.early_stopping_rounds=null",
            "--set", "predict=null", *LEAN_SET]  # fmt: skip
    proc = subprocess.Popen(args, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{workdir}/mlflow.db")

    def children():
        try:
            runs = mlflow.search_runs(experiment_names=["wine"])
        except Exception:
            return runs_empty()
        if runs.empty or "tags.mlflow.parentRunId" not in runs:
            return runs_empty()
        return runs[runs["tags.mlflow.parentRunId"].notna()]

    def runs_empty():
        return pd.DataFrame({"tags.mlscale.trial_id": []})

    deadline = time.time() + 300
    while time.time() < deadline and len(children()) < 2 and proc.poll() is None:
        time.sleep(0.5)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    time.sleep(3)  # at least one save of Tune's experiment state (every second) after those trials
    assert proc.poll() is None, "the run ended before it could be interrupted"
    killed_at = time.time()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    logged = children()
    before = set(logged["tags.mlscale.trial_id"])
    assert 2 <= len(before) < n
    # Trials logged more than 2 s before the kill are in Tune's saved state: they must not run again.
    settled = int((logged["end_time"] < pd.Timestamp(killed_at - 2, unit="s", tz="UTC")).sum())
    assert settled >= 2
    done = subprocess.run(
        [*args, "--resume"], cwd=workdir, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    after = children()
    ids = list(after["tags.mlscale.trial_id"])
    assert len(ids) == len(set(ids)) == n
    assert before <= set(ids)
    parents = mlflow.search_runs(experiment_names=["wine"])
    parents = parents[parents["tags.mlflow.parentRunId"].isna()]
    assert len(parents) == 1 and parents["status"].iloc[0] == "FINISHED"
    # what the resumed driver itself ran (by Tune's result timestamps): no finished trial ran again
    restored, ran = (
        parents["metrics.tune_trials_restored"].iloc[0],
        parents["metrics.tune_trials_run"].iloc[0],
    )
    assert restored >= settled and restored + ran == n, (restored, ran, settled, len(before))


def test_plan_checks_the_cluster_and_run_refuses_before_any_mlflow_run(ray_cluster, workdir):
    from mlscale.workflow.run import plan

    recipe = f"{mlscale_root()}/{RECIPES}/breast_cancer.yaml"
    ok = plan(recipe, engine="ray", overrides={"engine.address": ray_cluster, "engine.workers": 2})
    steps = dict(ok.engine.steps)
    assert steps["cluster"] == f"{ray_cluster}: 2 node(s), 2 CPU, 0 GPU"
    assert steps["train"] == "2 worker(s) x 1 CPU on cpu (actors)"
    assert steps["predict"] == "the test split in this process, batches of 65536 rows"
    pd.DataFrame({"mean_radius": [1.0]}).to_parquet(workdir / "in.parquet")
    with_input = {"engine.address": ray_cluster, "predict.input": str(workdir / "in.parquet")}
    files = plan(recipe, engine="ray", overrides=with_input)
    assert dict(files.engine.steps)["predict"] == (
        "a task per input file x 1 CPU over 2 node(s), the driver writes one file in order; batches of 65536 rows"
    )
    too_big = {"engine.address": ray_cluster, "engine.workers": 3, "engine.cpus_per_worker": 1}
    with pytest.raises(mlscale.RecipeError, match="does not fit the cluster"):
        mlscale.run(recipe, engine="ray", overrides=too_big)
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{workdir}/mlflow.db")
    assert client.search_runs([e.experiment_id for e in client.search_experiments()]) == []


def test_asha_on_ray_stops_weak_trials_early(ray_cluster, workdir):
    result = _run(
        "breast_cancer",
        **{
            "engine.name": "ray",
            "engine.address": ray_cluster,
            "tune.num_samples": 6,
            "tune.algorithm": "random",
            "tune.scheduler": "asha",
            "tune.grace_period": 5,
            "tune.space.eta": {"loguniform": [0.001, 0.3]},
            "train.num_boost_round": 45,
            "train.early_stopping_rounds": None,
            "predict": None,
        },
    )
    trials = result.tune.trials
    assert len(trials) == 6
    assert max(t.rounds for t in trials) == 45  # the best ran the full budget
    assert any(t.status == "pruned" and t.rounds < 45 for t in trials)  # ASHA stopped at least one
    best = result.tune.best
    assert best.status == "completed"
    assert best.metric == min(t.metric for t in trials if t.status == "completed")
    children = _client(result).search_runs(
        [_client(result).get_run(result.run_id).info.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{result.run_id}'",
    )
    assert len(children) == 6


def _source_files(workdir, name: str, fmt: str, parts: int):
    """The sklearn table `name` written as `parts` files: the same rows, in the same order."""
    import numpy as np

    from mlscale.data import sklearn_table as _sklearn_table

    table = _sklearn_table(name, "target")
    folder = workdir / f"{name}_{fmt}"
    folder.mkdir()
    for i, rows in enumerate(np.array_split(np.arange(len(table)), parts)):
        part = table.iloc[rows]
        path = folder / f"part{i}.{fmt}"
        part.to_parquet(path) if fmt == "parquet" else part.to_csv(path, index=False)
    return {"data.source": fmt, "data.path": str(folder), "data.dataset": None}


def test_workers_read_file_shards_and_train_the_same_model(ray_cluster, workdir):
    """A parquet source: each worker reads its own train rows with Ray Data (the driver ships none),
    and the model is the one trained from the same table shipped by the driver."""
    on_ray = {"engine.name": "ray", "engine.address": ray_cluster, "engine.workers": 2,
              "tune": None, "train.num_boost_round": 40}  # fmt: skip
    shipped = _run("breast_cancer", **on_ray)
    read = _run("breast_cancer", **on_ray, **_source_files(workdir, "breast_cancer", "parquet", 3))
    tags = lambda r: _client(r).get_run(r.run_id).data.tags  # noqa: E731
    assert tags(shipped)["train.data"] == "object_store" and tags(read)["train.data"] == "ray_data"
    placement = tags(read)["train.placement"].split(";")
    assert len({p.split("@")[1] for p in placement}) == 2  # one reading worker per node
    assert read.metrics == pytest.approx(shipped.metrics, rel=1e-12)
    assert read.booster.save_raw("json") == shipped.booster.save_raw("json")  # same shards, same trees
    out_read, out_shipped = pd.read_parquet(read.output_path), pd.read_parquet(shipped.output_path)
    pd.testing.assert_frame_equal(out_read, out_shipped)


def test_ray_train_workers_read_csv_shards_within_parity_of_local(ray_cluster, workdir, monkeypatch):
    monkeypatch.setenv("MLSCALE_HOME", str(workdir / "home"))  # the default checkpoint storage lives here
    files = _source_files(workdir, "wine", "csv", 1)
    small = {"tune": None, "predict": None, "train.num_boost_round": 60, **files}
    local = _run("wine", **small)
    result = _run("wine", **small, **{"engine.name": "ray", "engine.address": ray_cluster,
                                      "engine.workers": 2, "engine.trainer": "ray_train"})  # fmt: skip
    run = _client(result).get_run(result.run_id)
    assert run.data.tags["train.data"] == "ray_data" and run.data.tags["train.trainer"] == "ray_train"
    assert len({p.split("@")[1] for p in run.data.tags["train.placement"].split(";")}) == 2
    assert abs(result.metrics["test_accuracy"] - local.metrics["test_accuracy"]) <= 0.005 + 0.03
    # a finished run's checkpoints are removed from the default storage (they piled up run after run)
    assert [p.name for p in (workdir / "home" / "ray_train").iterdir() if not p.name.startswith(".")] == []


def test_workers_reading_shards_drop_missing_targets_and_encode_like_the_driver(ray_cluster, workdir):
    """Rows without a target are dropped before the split, so the row numbers workers read by must skip
    them; an ordinal-encoded text column is encoded by each worker exactly as the driver would."""
    import numpy as np

    from mlscale.data import sklearn_table as _sklearn_table

    table = _sklearn_table("breast_cancer", "target")
    rng = np.random.default_rng(3)
    table["shop"] = [f"shop{i}" for i in rng.integers(0, 60, len(table))]  # ordinal under auto
    table["colour"] = rng.choice(["red", "blue"], len(table))  # native
    table["target"] = table["target"].astype("float64")
    table.loc[rng.choice(len(table), 12, replace=False), "target"] = np.nan
    folder = workdir / "parts"
    folder.mkdir()
    for i, rows in enumerate(np.array_split(np.arange(len(table)), 3)):
        table.iloc[rows].to_parquet(folder / f"part{i}.parquet")
    on_ray = {"engine.name": "ray", "engine.address": ray_cluster, "engine.workers": 2, "tune": None,
              "predict": None, "train.num_boost_round": 30, "data.source": "parquet", "data.path": str(folder),
              "data.dataset": None}  # fmt: skip
    shipped = _run("breast_cancer", **on_ray, **{"engine.train_data": "object_store"})
    read = _run("breast_cancer", **on_ray, **{"engine.train_data": "ray_data"})
    assert _client(read).get_run(read.run_id).data.tags["train.data"] == "ray_data"
    assert read.model.schema.encodings == {"shop": "ordinal", "colour": "native"}
    run = _client(read).get_run(read.run_id).data
    assert run.metrics["rows_missing_target"] == 12
    assert run.metrics["rows_train"] + run.metrics["rows_valid"] + run.metrics["rows_test"] == len(table) - 12
    assert read.booster.save_raw("json") == shipped.booster.save_raw("json")  # same rows, same encoding


def test_partitioned_predict_on_the_cluster_writes_one_part_per_file(ray_cluster, workdir):
    """Each input file is read, predicted and written by a task on the cluster; the driver only commits:
    every row exactly once, in file order, the manifest right, and a rerun replaces the result."""
    import json

    import numpy as np
    import pandas as pd

    from mlscale.data import sklearn_table as _sklearn_table

    trained = _run("breast_cancer", **{"tune": None, "predict": None, "train.num_boost_round": 20})
    table = _sklearn_table("breast_cancer", "target").drop(columns=["target"])
    table.insert(0, "row_id", np.arange(len(table)))
    folder = workdir / "in"
    folder.mkdir()
    for i, rows in enumerate(np.array_split(np.arange(len(table)), 4)):
        table.iloc[rows].to_parquet(folder / f"part{i}.parquet")
    on_ray = {"engine.address": ray_cluster, "predict.id_columns": ["row_id"]}
    recipe = f"{mlscale_root()}/{RECIPES}/breast_cancer.yaml"
    out = mlscale.predict(recipe, model=trained.run_id, input=str(folder), output=f"{workdir}/scored/",
                          engine="ray", overrides=on_ray)  # fmt: skip
    manifest = json.loads((out / "_manifest.json").read_text())
    assert [f["file"] for f in manifest["files"]] == [f"part-{i:05d}.parquet" for i in range(4)]
    assert manifest["rows"] == len(table)
    written = pd.concat([pd.read_parquet(out / f["file"]) for f in manifest["files"]], ignore_index=True)
    assert written["row_id"].tolist() == table["row_id"].tolist()  # every row once, in order
    expected, _ = trained.model.predict_frame(table, id_columns=["row_id"])
    np.testing.assert_allclose(written["probability"], expected["probability"], rtol=1e-6)
    (folder / "part3.parquet").unlink()
    mlscale.predict(recipe, model=trained.run_id, input=str(folder), output=f"{workdir}/scored/",
                    engine="ray", overrides=on_ray)  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == [
        "_manifest.json",
        *[f"part-{i:05d}.parquet" for i in range(3)],
    ]
    assert not [p for p in workdir.iterdir() if p.name.startswith(".scored")]  # no temp directory left
