"""The typed results engines return: what the runner reads from them."""

from __future__ import annotations

from mlscale.engines.base import TrainResult as ReExported
from mlscale.results import ClusterInfo, Placement, TrainResult


def test_cluster_tags_name_each_engine_version_and_nothing_engine_specific_by_default():
    assert ClusterInfo(engine="ray", versions={"ray": "2.60.0"}).tags()["cluster.ray_version"] == "2.60.0"
    local = ClusterInfo(engine="local", nodes=1, cpus=2).tags()
    assert not [k for k in local if k.endswith("_version")]
    assert local["cluster.shape"] == "1n-2cpu-0gpu"


def test_train_result_resumed_from_round_is_the_latest_restart_of_any_worker():
    placement = [Placement(rank=0, node="a"), Placement(rank=1, node="b", resumed_from_round=40)]
    assert TrainResult(model=None, history={}, rounds=1, placement=placement).resumed_from_round == 40  # type: ignore[arg-type]
    assert TrainResult(model=None, history={}, rounds=1).resumed_from_round == 0  # type: ignore[arg-type]


def test_results_are_still_importable_from_engines_base():
    assert ReExported is TrainResult
