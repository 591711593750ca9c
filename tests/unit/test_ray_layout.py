"""The Ray engine's layout: pure functions, and `plan` reporting exactly what the run asks Ray for."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mlscale.engines.base import ClusterInfo, TrainResult, TuneResult
from mlscale.engines.ray.layout import (
    NodeGroup,
    TrainLayout,
    addable,
    scale_layout,
    train_layout,
    trial_layout,
)
from mlscale.errors import RecipeError
from mlscale.recipe import EngineConfig, TrainConfig, TuneConfig


def _tune(**kw) -> TuneConfig:
    return TuneConfig(space={"eta": {"loguniform": [0.01, 0.3]}}, **kw)


def test_one_worker_per_node_with_all_its_cpus():
    layout = train_layout(EngineConfig(name="ray", workers=4), [4.0, 2.0])
    assert (layout.trainer, layout.workers, layout.cpus, layout.threads) == ("actors", 2, 2.0, 2)
    assert layout.note and "using 2 worker(s)" in layout.note


def test_ray_train_and_file_reads_leave_cpus_to_ray_data():
    assert train_layout(EngineConfig(name="ray", workers=2, max_failures=1), [4.0, 4.0]).cpus == 3.5
    reading = train_layout(EngineConfig(name="ray", workers=2), [4.0, 4.0], reads_files=True)
    assert (reading.cpus, reading.threads) == (3.75, 4)


def test_workers_that_cannot_fit_are_a_recipe_error():
    with pytest.raises(RecipeError, match="does not fit the cluster"):
        train_layout(EngineConfig(name="ray", workers=3, cpus_per_worker=2), [4.0])


def test_trials_are_sized_to_free_cpus_and_never_exceed_the_samples():
    cfg = EngineConfig(name="ray")
    assert trial_layout(cfg, max_concurrent=None, num_samples=8, total_cpus=8, free_cpus=3).limit == 3
    assert trial_layout(cfg, max_concurrent=None, num_samples=8, total_cpus=8, free_cpus=0).limit == 8
    assert trial_layout(cfg, max_concurrent=None, num_samples=2, total_cpus=8).limit == 2
    capped = trial_layout(cfg, max_concurrent=6, num_samples=8, total_cpus=4)
    assert (capped.limit, capped.at_once) == (6, 4)


@pytest.fixture
def shared_cluster(monkeypatch):
    """A RayEngine that believes it joined a busy 2-node cluster; the run's phases are captured, not run."""
    from mlscale.engines.ray import connection, engine, train_data, trainer_actors, trainer_ray_train, tuning

    captured: dict = {}
    monkeypatch.setattr(connection, "free_cpus", lambda: 3.0)
    monkeypatch.setattr(engine, "xgb_params", lambda *a, **k: {"nthread": k["nthread"]})
    monkeypatch.setattr(train_data, "readable_files", lambda *a, **k: captured.get("files"))

    def fake_train(*args, **kwargs):
        captured["train"] = next(a for a in args if isinstance(a, TrainLayout))
        return TrainResult(model=None, history={}, rounds=0)  # type: ignore[arg-type]

    def fake_tune(data, train, tune, layout, **kwargs):
        captured["tune"] = layout
        return TuneResult(trials=[], best=None, best_model=None, metric="", mode="min")  # type: ignore[arg-type]

    monkeypatch.setattr(trainer_actors, "train_actors", fake_train)
    monkeypatch.setattr(trainer_ray_train, "train_ray_train", fake_train)
    monkeypatch.setattr(tuning, "run_tune", fake_tune)

    def make(**config):
        ray_engine = engine.RayEngine(EngineConfig(name="ray", address="10.0.0.1:6379", **config))
        ray_engine._cluster = ClusterInfo(engine="ray", nodes=2, cpus=8, address="10.0.0.1:6379")
        ray_engine._node_cpus = [4.0, 4.0]
        return ray_engine

    return make, captured


@pytest.mark.parametrize(
    "config", [{"workers": 2}, {"workers": 2, "max_failures": 1}, {"cpus_per_worker": 2}]
)
def test_plan_and_run_agree(shared_cluster, config, tmp_path):
    make, captured = shared_cluster
    ray_engine = make(**config)
    tune = _tune(num_samples=8)
    plan = dict(ray_engine.plan(TrainConfig(), tune, None).steps)
    data = SimpleNamespace(schema=None, stream=None)
    ray_engine.train(data, TrainConfig())
    ray_engine.tune(data, TrainConfig(), tune, on_trial=lambda t: None, state_dir=tmp_path)
    ran, trials = captured["train"], captured["tune"]
    assert plan["train"] == f"{ran.workers} worker(s) x {ran.cpus:g} CPU on cpu ({ran.trainer})"
    assert plan["tune"].startswith(f"8 trials x {trials.cpus_per_trial:g} CPU, {trials.limit} at a time")
    assert trials.limit == max(1, int(3 // trials.cpus_per_trial))  # sized to the 3 free CPUs, as planned


def test_plan_notes_the_cpus_workers_keep_when_they_read_files(shared_cluster):
    make, captured = shared_cluster
    ray_engine = make(workers=2)
    notes = " ".join(ray_engine.plan(TrainConfig(), None, None).notes)
    captured["files"] = object()
    ray_engine.train(SimpleNamespace(schema=None, stream=None), TrainConfig())
    assert f"each reserves {captured['train'].cpus:g} CPU" in notes


WORKERS_1CPU = NodeGroup(name="ray.worker.cpu", cpus=1.0, more=2)


def test_on_an_empty_autoscaling_head_the_layout_asks_for_one_node_per_worker():
    scale = scale_layout(EngineConfig(name="ray", workers=2), [], [WORKERS_1CPU])
    assert (scale.layout.workers, scale.layout.cpus, scale.add) == (2, 1.0, [1.0, 1.0])
    assert scale.bundles == [{"CPU": 1.0}, {"CPU": 1.0}]
    assert scale.describe() == "2 node(s) of 1 CPU"


def test_nodes_present_are_used_first_and_only_the_missing_ones_asked_for():
    scale = scale_layout(EngineConfig(name="ray", workers=2), [1.0], [WORKERS_1CPU])
    assert scale.add == [1.0] and scale.layout.workers == 2
    assert scale_layout(EngineConfig(name="ray", workers=2), [1.0, 1.0], [WORKERS_1CPU]).add == []


def test_the_largest_allowed_cluster_is_the_limit_and_the_refusal_says_so():
    with pytest.raises(RecipeError) as refused:
        scale_layout(EngineConfig(name="ray", workers=3), [], [WORKERS_1CPU])
    message = str(refused.value)
    assert "engine.workers=3" in message and "largest size its autoscaler allows" in message
    assert "ray.worker.cpu: up to 2 more node(s) of 1 CPU" in message and "\n" not in message
    with pytest.raises(RecipeError, match="more than the cluster's 0 CPU"):  # no autoscaler: as before
        scale_layout(EngineConfig(name="ray", workers=2), [], [])


def test_cpus_per_worker_bundles_and_unlimited_groups():
    unlimited = NodeGroup(name="big", cpus=4.0, more=None)
    scale = scale_layout(EngineConfig(name="ray", workers=3, cpus_per_worker=2), [], [unlimited])
    assert scale.add == [4.0, 4.0] and scale.bundles == [{"CPU": 2.0}] * 3
    assert addable([unlimited, WORKERS_1CPU], 3) == [4.0, 4.0, 4.0, 1.0, 1.0]


def test_an_autoscaling_engine_plans_what_it_asks_for_and_sizes_tuning_from_the_maximum(shared_cluster):
    make, _ = shared_cluster
    ray_engine = make(workers=2)
    ray_engine._node_cpus, ray_engine._groups = [], [WORKERS_1CPU]
    plan = dict(ray_engine.plan(TrainConfig(), _tune(num_samples=8), None).steps)
    assert plan["scale"].startswith("asks the autoscaler for 2 node(s) of 1 CPU, waits up to 600 s")
    assert plan["train"] == "2 worker(s) x 1 CPU on cpu (actors)"
    assert plan["tune"].startswith("8 trials x 1 CPU, 2 at a time")  # the 2 nodes it may add
    assert ray_engine.nodes_wanted() == 2 and ray_engine._reserve_timeout_s() == 600
