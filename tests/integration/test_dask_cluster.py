"""Engine dask against the session's `dask scheduler` and 2 `dask worker`s (1 thread each), and on a private
LocalCluster: both workers train, parity with local, faults, plan, nothing left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import psutil
import pytest
from conftest import LEAN as LEAN_RUN
from conftest import LEAN_SET

import mlscale

pytestmark = pytest.mark.dask

ROOT = Path(__file__).resolve().parents[2]
MLSCALE = str(Path(sys.executable).parent / "mlscale")
LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
LEAN = {**LEAN_RUN, "tune": None}
RECIPE = """\
name: dasktest
data: {source: csv, path: train.csv, target: label, exclude: [row_id], split: {valid: 0.2, test: 0.2, seed: 1}}
train: {num_boost_round: 40, early_stopping_rounds: 10, eval_metric: [auc, logloss]}
predict: {output: out/pred.parquet, id_columns: [row_id]}
"""


@pytest.fixture
def table(workdir: Path) -> Path:
    """A small binary table in a csv file, with a categorical column, and a recipe for it."""
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=3000, n_features=8, n_informative=5, random_state=7)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(8)]).assign(label=y, row_id=range(3000))
    frame["colour"] = (
        pd.Series(["red", "green", "blue", "grey"]).iloc[(frame["f0"] > 0) + 2 * (frame["f1"] > 0)].values
    )
    frame.to_csv(workdir / "train.csv", index=False)
    (workdir / "r.yaml").write_text(RECIPE)
    return workdir / "r.yaml"


def _client(address: str):
    import distributed

    return distributed.Client(address, timeout=10, set_as_default=False)


def _tasks_done(address: str) -> dict[str, Counter]:
    """Per worker, the tasks it finished (by key prefix), read from the worker's own state log."""

    def done(dask_worker) -> Counter:
        from dask.utils import key_split

        keys = {e[0] for e in dask_worker.state.log if len(e) > 2 and e[2] == "memory"}
        return Counter(key_split(k) for k in keys)

    with _client(address) as client:
        return {w: Counter(c) for w, c in client.run(done).items()}


def test_both_workers_read_their_rows_and_train_and_the_model_matches_local(dask_cluster, table):
    """engine.workers=2: each worker ran a read task of its own rows and xgboost's training task (its
    state log says so); the model is within the documented parity of engine local (0.5 points of AUC)."""
    before = _tasks_done(dask_cluster.address)
    dask = mlscale.run(
        "r.yaml",
        overrides={
            **LEAN,
            "engine.name": "dask",
            "engine.workers": 2,
            "engine.dask.address": dask_cluster.address,
        },
    )
    after = _tasks_done(dask_cluster.address)
    assert sorted(after) == sorted(before) and len(after) == 2
    for worker, counts in after.items():
        gained = counts - before[worker]
        assert gained["read_worker_rows"] == 1 and gained["fn"] >= 1, (
            worker,
            gained,
        )  # fn: xgboost's train task
    local = mlscale.run("r.yaml", overrides={**LEAN, "predict.output": "out/local.parquet"})
    assert abs(dask.metrics["test_auc"] - local.metrics["test_auc"]) <= 0.005, (dask.metrics, local.metrics)
    assert dask.cluster.tags()["cluster.layout"] == "2 worker(s) x 1 thread(s)"
    ours, theirs = pd.read_parquet(dask.output_path), pd.read_parquet(local.output_path)
    assert list(ours.columns) == list(theirs.columns) and len(ours) == len(theirs)


def test_one_worker_on_scattered_rows_trains_the_local_model(dask_cluster, workdir):
    """A scikit-learn source is scattered by the driver; with one worker the trees are local's, tree for tree."""
    recipe = str(ROOT / "recipes/breast_cancer.yaml")
    sets = {**LEAN, "train.num_boost_round": 30, "predict": None}
    local = mlscale.run(recipe, overrides=sets)
    dask = mlscale.run(
        recipe, overrides={**sets, "engine.name": "dask", "engine.dask.address": dask_cluster.address}
    )
    assert dask.booster.get_dump() == local.booster.get_dump()


def _listeners(procs: list[psutil.Process]) -> set[tuple[str, int, int]]:
    found = set()
    for p in procs:
        try:
            found |= {
                (c.laddr.ip, c.laddr.port, p.pid)
                for c in p.net_connections(kind="inet")
                if c.status == "LISTEN"
            }
        except psutil.Error:
            continue
    return found


def _sampled_run(args: list[str], cwd: Path, *, signal_after_s: float | None = None):
    """`mlscale ARGS` in a process of its own: (the process, its stderr lines, every listener and process
    of its tree seen while it ran). `signal_after_s`: SIGTERM it that long after its MLflow run opened."""
    proc = subprocess.Popen(
        [MLSCALE, *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr or ()), daemon=True)
    reader.start()
    root = psutil.Process(proc.pid)
    seen: set[tuple[str, int, int]] = set()
    procs: set[psutil.Process] = set()
    opened = None
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        procs |= set(tree)
        seen |= _listeners(tree)
        if opened is None and any("mlflow run" in line for line in list(lines)):
            opened = time.monotonic()
        if signal_after_s is not None and opened is not None and time.monotonic() - opened > signal_after_s:
            proc.send_signal(signal.SIGTERM)
            signal_after_s = None
        time.sleep(0.2)
    proc.wait(timeout=120)
    reader.join(10)
    return proc, lines, seen, procs


def test_a_private_cluster_listens_on_loopback_only_and_leaves_nothing_running(table):
    """No address: a LocalCluster (dashboard on), every listener of the run's process tree on 127.0.0.1,
    and none of its processes left once it ends. One training worker: plain xgboost in a task, no
    collective (xgboost's collective listens for its peers on every interface while it trains)."""
    proc, lines, seen, procs = _sampled_run(
        ["run", "r.yaml", "-q", "--engine", "dask", "--set", "engine.dask.dashboard=true", *LEAN_SET],
        table.parent,
    )  # fmt: skip
    assert proc.returncode == 0, "".join(lines)[-2000:]
    assert (
        len({pid for _, _, pid in seen}) >= 2
    )  # the sampling saw the scheduler's and the worker's listeners
    assert sorted(s for s in seen if s[0] not in LOOPBACK) == []
    time.sleep(1)
    assert [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []


def test_sigterm_ends_the_run_killed_and_closes_the_private_cluster(table):
    proc, lines, _, procs = _sampled_run(
        ["run", "r.yaml", "--engine", "dask", "--set", "engine.workers=2", "--set", "train.num_boost_round=100000",
         "--set", "train.early_stopping_rounds=null", "--set", "tune=null", *LEAN_SET],
        table.parent,
        signal_after_s=3,
    )  # fmt: skip
    assert proc.returncode == 143, "".join(lines)[-2000:]
    assert [line for line in lines if "distributed" in line or "Traceback" in line] == [], "".join(
        lines
    )  # quiet without -v
    time.sleep(1)
    assert [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{table.parent}/mlflow.db")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert [r.info.status for r in runs] == ["KILLED"]


def test_ctrl_c_stops_training_on_the_shared_workers(dask_cluster, table):
    """The interrupt reaches the caller, and the session's workers stop training at once: a task on each
    of them runs within seconds (a worker still training 100000 rounds would hold its only thread)."""

    def interrupt_soon(kind: str, info) -> None:
        if kind == "round" and info["round"] >= 2:
            os.kill(os.getpid(), signal.SIGINT)

    overrides = {**LEAN, "engine.name": "dask", "engine.workers": 2, "engine.dask.address": dask_cluster.address,
                 "train.num_boost_round": 100_000, "train.early_stopping_rounds": None}  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        mlscale.run("r.yaml", overrides=overrides, progress=interrupt_soon)
    with _client(dask_cluster.address) as client:
        workers = list(client.scheduler_info(n_workers=-1)["workers"])
        futures = [client.submit(os.getpid, workers=[w], pure=False) for w in workers]
        assert len({f.result(timeout=20) for f in futures}) == 2  # TimeoutError while a worker still trains


def test_a_worker_killed_mid_train_fails_the_run_in_one_line(dask_cluster, table):
    """SIGKILL one of the two training workers once training runs: the run ends FAILED with a one-line
    EngineError naming the worker, in seconds (the driver watches the workers; it does not wait for the
    collective timeout); the worker's nanny brings a worker back for the next tests."""
    from conftest import wait_dask_workers
    from mlflow.tracking import MlflowClient

    from mlscale.errors import EngineError

    with _client(dask_cluster.address) as client:
        victim = next(iter(client.run(os.getpid).values()))
    killed: list[float] = []

    def kill_once_training(kind: str, info) -> None:
        if kind == "round" and not killed:
            killed.append(time.monotonic())
            os.kill(victim, signal.SIGKILL)

    overrides = {**LEAN, "engine.name": "dask", "engine.workers": 2, "engine.dask.address": dask_cluster.address,
                 "engine.dask.collective_timeout": 120, "train.num_boost_round": 100_000,
                 "train.early_stopping_rounds": None}  # fmt: skip
    try:
        with pytest.raises(EngineError) as info:
            mlscale.run("r.yaml", overrides=overrides, progress=kill_once_training)
        seconds = time.monotonic() - killed[0]
    finally:
        wait_dask_workers(dask_cluster.address, 2)
    assert seconds < 20, seconds
    message = str(info.value)
    assert "\n" not in message and message.startswith("dask: worker tcp://127.0.0.1:"), message
    assert "left the cluster during training" in message
    client = MlflowClient(f"sqlite:///{table.parent}/mlflow.db")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert [r.info.status for r in runs] == ["FAILED"]


def test_an_unreachable_scheduler_fails_in_seconds_in_one_line(table, run_cli):
    from conftest import free_port

    started = time.monotonic()
    done = run_cli("run", "r.yaml", "-q", "--engine", "dask", "--set", f"engine.dask.address=tcp://127.0.0.1:{free_port()}",
                   cwd=table.parent)  # fmt: skip
    assert time.monotonic() - started < 15
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert (
        "dask: cannot connect to tcp://127.0.0.1:" in done.stderr and "nothing answers there" in done.stderr
    )
    assert not (table.parent / "out").exists()


def test_plan_checks_the_recipe_against_the_schedulers_workers(dask_cluster, table, run_cli):
    ok = run_cli("plan", "r.yaml", "--engine", "dask", "--address", dask_cluster.address, cwd=table.parent)
    assert ok.returncode == 0, ok.stderr
    assert "2 worker(s), 2 thread(s)" in ok.stdout and "1 worker(s) x 1 thread(s)" in ok.stdout
    for sets, expected in [
        (["engine.workers=3"], "engine.workers=3 is more than the Dask cluster's 2 worker(s)"),
        (["engine.cpus_per_worker=2"], "with at least 2 thread(s)"),
    ]:
        bad = run_cli("plan", "r.yaml", "-q", "--engine", "dask", "--address", dask_cluster.address,
                      *(a for s in sets for a in ("--set", s)), cwd=table.parent)  # fmt: skip
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and expected in bad.stderr, bad.stderr


def test_bench_and_compare_take_engine_dask(dask_cluster, table):
    from mlscale.workflow.bench import bench, compare

    result = bench(
        "r.yaml",
        engines=["local", "dask"],
        phases=["train"],
        overrides=[f"engine.dask.address={dask_cluster.address}", *(a for a in LEAN_SET if a != "--set")],
        out_dir="bench",
    )
    assert list(result.runs["engine"]) == ["local", "dask"]
    table_, _ = compare(run_ids=list(result.runs["run_id"]), out_dir="compare")
    assert set(table_["engine"]) == {"local", "dask"}


def test_the_processs_own_client_is_used_and_never_closed(dask_cluster, table):
    """A notebook's `Client(...)` (the process's default client): the run uses its cluster, whatever
    engine.dask.address says, and leaves it open."""
    import distributed

    with distributed.Client(dask_cluster.address, timeout=10) as client:
        result = mlscale.run("r.yaml", overrides={**LEAN, "engine.name": "dask", "predict": None})
        assert (
            result.cluster.tags()["cluster.nodes"] == "1" and result.cluster.address == dask_cluster.address
        )
        assert client.status == "running" and client.submit(sum, [1, 2]).result(timeout=10) == 3
