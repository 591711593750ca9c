"""Many runs in a row: every run logged, nothing leaked (file descriptors, threads, processes, ports)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from conftest import LEAN_SET

import mlscale

ROOT = Path(__file__).resolve().parents[2]
MLSCALE = str(Path(sys.executable).parent / "mlscale")
SMALL = {"train.num_boost_round": 10, "predict": None, "mlflow.experiment": "load_test"}


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


def _ray_processes() -> set[int]:
    names = ("raylet", "gcs_server", "ray::", "dashboard", "runtime_env", "log_monitor", "monitor.py")
    found = set()
    for p in psutil.process_iter(["pid", "name", "cmdline"]):
        try:
            text = " ".join(p.info["cmdline"] or []) or (p.info["name"] or "")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if any(n in text for n in names):
            found.add(p.info["pid"])
    return found


@pytest.mark.ray
def test_private_ray_runs_leave_no_process_or_port_behind(mlflow_server, workdir):
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server}
    before_procs, before_ports = _ray_processes(), _listening_ports()
    for _ in range(2):  # the second run starts after the first one's private Ray is gone
        done = subprocess.run(
            [MLSCALE, "run", str(ROOT / "recipes/diabetes.yaml"), "-q", "--engine", "ray",
             "--set", "train.num_boost_round=10", "--set", "mlflow.experiment=load_test_ray", *LEAN_SET],
            cwd=workdir, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        deadline = time.time() + 30
        while time.time() < deadline and (
            _ray_processes() - before_procs or _listening_ports() - before_ports
        ):
            time.sleep(0.5)
        assert _ray_processes() - before_procs == set(), "the run's private Ray left processes running"
        assert _listening_ports() - before_ports == set(), "the run's private Ray left ports open"
