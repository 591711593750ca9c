"""Many runs in a row: every run logged, nothing leaked (file descriptors, threads, processes, ports)."""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
from conftest import LEAN, LEAN_SET

import mlscale

ROOT = Path(__file__).resolve().parents[2]
MLSCALE = str(Path(sys.executable).parent / "mlscale")
SMALL = {"train.num_boost_round": 10, "predict": None, "mlflow.experiment": "load_test", **LEAN}


def _listening_ports() -> set[tuple[str, int]]:
    """Listening sockets of this process and its children: what the runs could have left (other processes
    on the machine, another test session or a benchmark, come and go on their own)."""
    me = psutil.Process()
    found = set()
    for proc in [me, *me.children(recursive=True)]:
        try:
            found |= {
                (c.laddr.ip, c.laddr.port) for c in proc.net_connections(kind="inet") if c.status == "LISTEN"
            }
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def _settled_counts(me: psutil.Process) -> tuple[int, int]:
    """File descriptors and threads once garbage is collected.

    MLflow gives every artifact repository its own thread pool and never shuts it down; the pool's
    threads end only when the cyclic GC frees the repository (measured: +2 threads per run until a
    collection, then back to the baseline). Collect first, so only what is still referenced counts."""
    gc.collect()
    deadline = time.time() + 5
    counts = (me.num_fds(), me.num_threads())
    while time.time() < deadline:
        time.sleep(0.2)
        now = (me.num_fds(), me.num_threads())
        if now == counts:
            break
        counts = now
    return counts


def test_fifteen_consecutive_runs_against_one_server(mlflow_server, workdir, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    me = psutil.Process()
    recipe = ROOT / "recipes/diabetes.yaml"
    run_ids = []
    for i in range(15):  # 10 runs after the warm-up: a leak of one per run shows
        run_ids.append(mlscale.run(recipe, overrides=SMALL).run_id)
        if i == 4:  # after warm-up: imports done, MLflow's HTTP pool open
            fds, threads = _settled_counts(me)
            ports = _listening_ports()
    fds_after, threads_after = _settled_counts(me)
    assert fds_after <= fds + 3, f"file descriptors grow with every run: {fds} -> {fds_after}"
    assert threads_after <= threads + 2, f"threads grow with every run: {threads} -> {threads_after}"
    assert _listening_ports() == ports, "a run left a listening socket behind"
    assert not [c for c in me.net_connections(kind="inet") if c.status == "LISTEN"]  # mlscale serves nothing
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_server)
    exp = client.get_experiment_by_name("load_test")
    runs = client.search_runs([exp.experiment_id], max_results=200)
    assert sorted(r.info.run_id for r in runs) == sorted(run_ids)
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert all("test_rmse" in r.data.metrics and "time_total_s" in r.data.metrics for r in runs)


def _ray_processes(temp_root: str) -> set[int]:
    """Processes of the Ray instances whose temp root is `temp_root` (`RAY_TMPDIR`): its daemons name it on
    their command lines, its agents and workers inherit it in their environment. Other Ray instances on the
    machine (another test's, the session cluster) are not counted."""
    found = set()
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            if temp_root in " ".join(p.info["cmdline"] or []) or p.environ().get("RAY_TMPDIR") == temp_root:
                found.add(p.info["pid"])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def _ports_of(pids: set[int]) -> set[tuple[str, int]]:
    found = set()
    for pid in pids:
        try:
            found |= {(c.laddr.ip, c.laddr.port) for c in psutil.Process(pid).net_connections(kind="inet")}
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


@pytest.mark.ray
def test_private_ray_runs_leave_no_process_or_port_behind(mlflow_server, workdir):
    # the runs' private instances, told apart from any other Ray (short: Ray's socket paths live under it)
    temp_root = tempfile.mkdtemp(prefix="mlsrt-", dir="/tmp")
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server, "RAY_TMPDIR": temp_root}
    for _ in range(2):  # the second run starts after the first one's private Ray is gone
        done = subprocess.run(
            [MLSCALE, "run", str(ROOT / "recipes/diabetes.yaml"), "-q", "--engine", "ray",
             "--set", "train.num_boost_round=10", "--set", "mlflow.experiment=load_test_ray", *LEAN_SET],
            cwd=workdir, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert (Path(temp_root) / "ray").is_dir()  # the run's instance lived under temp_root
        deadline = time.time() + 30
        while time.time() < deadline and _ray_processes(temp_root):
            time.sleep(0.5)
        left = _ray_processes(temp_root)
        assert left == set(), "the run's private Ray left processes running"
        assert _ports_of(left) == set(), "the run's private Ray left ports open"
    shutil.rmtree(temp_root, ignore_errors=True)
