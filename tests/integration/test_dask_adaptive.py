"""Engine dask on an adaptive private LocalCluster (engine.dask.adapt): it grows for the work and shrinks
after it; training waits for its workers, and a wait past engine.dask.scale_timeout_s fails the run."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
from conftest import LEAN as LEAN_RUN

import mlscale
from mlscale.errors import EngineError
from mlscale.recipe.load import validate
from mlscale.recipe.schema import EngineConfig, TuneConfig

# timing: the scale-down is watched, so these run in the one-process part of `make test`, not beside other tests
pytestmark = [pytest.mark.dask, pytest.mark.serial]

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
# a loop that looks often and retires an idle worker after two looks, and asks for workers as soon as any
# work waits: the test sees the whole cycle in seconds
FAST = {"minimum": 0, "maximum": 2, "interval_s": 0.2, "wait_count": 2, "target_duration_s": 0.01}
LEAN = {**LEAN_RUN, "tune": None, "predict": None, "train.num_boost_round": 20}
RECIPE = """\
name: adaptive
data: {source: csv, path: train.csv, target: label, exclude: [row_id], split: {valid: 0.2, test: 0.2, seed: 1}}
train: {num_boost_round: 20, early_stopping_rounds: 5, eval_metric: [auc, logloss]}
"""


def _frame(n: int = 1500) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"row_id": np.arange(n), "x": rng.normal(size=n), "z": rng.normal(size=n)})
    frame["label"] = (frame["x"] + 0.5 * frame["z"] + rng.normal(scale=0.7, size=n) > 0).astype(int)
    return frame


@pytest.fixture
def table(workdir: Path) -> Path:
    _frame().to_csv(workdir / "train.csv", index=False)
    (workdir / "r.yaml").write_text(RECIPE)
    return workdir / "r.yaml"


def _listeners_beyond_loopback() -> list[str]:
    """Listening sockets of this process's children (the cluster's scheduler runs in this process) that are
    not on loopback."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            conns = child.net_connections("inet")
        except psutil.NoSuchProcess:
            continue
        found += [f"{c.laddr.ip}:{c.laddr.port}" for c in conns if c.status == psutil.CONN_LISTEN]
    return [f for f in found if f.rsplit(":", 1)[0] not in LOOPBACK]


def test_the_cluster_goes_from_no_worker_to_its_maximum_for_tuning_and_back_to_none(workdir):
    from mlscale.data import prepare
    from mlscale.engines.dask import DaskEngine

    recipe = validate(
        {
            "name": "t",
            "data": {"source": "csv", "path": "u.csv", "target": "label", "exclude": ["row_id"]},
            "train": {"num_boost_round": 300, "early_stopping_rounds": None},
        },
        source="r.yaml",
    )
    data = prepare(recipe, _frame(4000), source="r.yaml")
    space = {"eta": {"loguniform": [0.01, 0.5]}, "max_depth": {"randint": [2, 6]}}
    tune = TuneConfig.model_validate({"space": space, "algorithm": "random", "seed": 3, "num_samples": 24})
    engine = DaskEngine(EngineConfig(name="dask", workers=1, dask={"adapt": FAST}))
    info = engine.start()
    assert info.cpus == 2 * max(1, (os.cpu_count() or 1) // 2)  # the cluster at its largest, not as it starts
    counts: list[int] = []
    beyond: set[str] = set()
    checked: list[bool] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            counts.append(len(engine.client.nthreads()))
            if counts[-1] == 2 and not checked:  # the workers the loop started listen on 127.0.0.1 too
                beyond.update(_listeners_beyond_loopback())
                checked.append(True)
            time.sleep(0.1)

    try:
        before = len(engine.client.nthreads())
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        result = engine.tune(data, recipe.train, tune, on_trial=lambda t: None, state_dir=workdir / "state")
        done.set()
        sampler.join(5)
        tuned = time.monotonic()
        while engine.client.nthreads() and time.monotonic() < tuned + 60:
            time.sleep(0.2)
        after, shrunk = len(engine.client.nthreads()), time.monotonic() - tuned
    finally:
        done.set()
        engine.stop()
    print(f"\nworkers before tuning {before}, during {sorted(set(counts))}, {after} {shrunk:.1f} s after it")
    assert (before, max(counts), after) == (0, 2, 0), counts
    assert len(result.trials) == 24 and len(result.details["trials_per_worker"]) == 2
    assert checked and beyond == set()


def test_training_waits_for_its_workers_and_matches_a_fixed_cluster(dask_cluster, table):
    two = {**LEAN, "engine.name": "dask", "engine.workers": 2}
    adaptive = mlscale.run("r.yaml", overrides={**two, "engine.dask.adapt": {"maximum": 2}})
    fixed = mlscale.run("r.yaml", overrides={**two, "engine.dask.address": dask_cluster.address})
    print(f"\ntime_scale_s {adaptive.timings['time_scale_s']:.1f}")
    assert adaptive.timings["time_scale_s"] > 0 and "time_scale_s" not in fixed.timings
    assert adaptive.metrics == pytest.approx(fixed.metrics, abs=1e-9)


def test_a_wait_past_the_scale_timeout_fails_the_run_in_one_line(table, workdir):
    from mlflow.tracking import MlflowClient

    overrides = {
        **LEAN,
        "engine.name": "dask",
        "engine.workers": 2,
        "engine.dask.adapt": {"maximum": 2},
        "engine.dask.scale_timeout_s": 0.2,
    }
    with pytest.raises(EngineError) as failed:
        mlscale.run("r.yaml", overrides=overrides)
    message = str(failed.value)
    assert "\n" not in message
    assert "did not start 2 worker(s) within engine.dask.scale_timeout_s=0.2" in message
    client = MlflowClient(f"sqlite:///{workdir}/mlflow.db")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert [r.info.status for r in runs] == ["FAILED"] and "time_scale_s" in runs[0].data.metrics
