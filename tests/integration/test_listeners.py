"""Nothing mlscale starts listens beyond loopback: every listening socket, sampled during real runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
from conftest import LEAN_SET

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[2]
MLSCALE = str(Path(sys.executable).parent / "mlscale")
LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


def _listeners(procs: list[psutil.Process]) -> set[tuple[str, int, str]]:
    found = set()
    for p in procs:
        try:
            name = p.name()
            for c in p.net_connections(kind="inet"):
                if c.status == "LISTEN":
                    found.add((c.laddr.ip, c.laddr.port, name))
        except psutil.Error:
            continue
    return found


def _tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def test_the_session_cluster_listens_on_loopback_only(ray_head):
    """The suite's own 2-node cluster (tests/conftest.py `ray_head`): both nodes, the dashboard, and the Ray
    Client server with a client connected."""
    from conftest import _own_processes

    code = (
        "import ray,sys,time; ray.init(address=sys.argv[1], logging_level='ERROR');"
        "ray.get(ray.remote(lambda: 1).remote()); print('ready', flush=True); time.sleep(4)"
    )
    driver = subprocess.Popen(
        [sys.executable, "-c", code, ray_head.client], stdout=subprocess.PIPE, text=True
    )
    try:
        assert driver.stdout.readline().strip() == "ready"
        procs = {p for root in _own_processes(list(ray_head.markers)) for p in _tree(root)}
        seen = _listeners(list(procs))
        raylets = [p for p in procs if p.name() == "raylet"]
    finally:
        driver.wait(timeout=30)
    names = {name for _, _, name in seen}
    assert {"gcs_server", "raylet"} <= names, names
    assert len(raylets) == 2  # both nodes sampled
    exposed = sorted(s for s in seen if s[0] not in LOOPBACK)
    assert exposed == [], f"listening beyond loopback: {exposed}"


def test_a_private_ray_instance_listens_on_loopback_only(workdir):
    """`mlscale run --engine ray` with the dashboard on: its whole process tree, sampled until it ends."""
    proc = subprocess.Popen(
        [MLSCALE, "run", str(ROOT / "recipes/breast_cancer.yaml"), "-q", "--engine", "ray",
         "--set", "engine.dashboard=true", "--set", "tune.num_samples=2", "--set", "train.num_boost_round=30",
         *LEAN_SET],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    root = psutil.Process(proc.pid)
    seen: set[tuple[str, int, str]] = set()
    while proc.poll() is None:
        seen |= _listeners(_tree(root))
        time.sleep(0.2)
    assert proc.returncode == 0, proc.stderr.read()[-2000:]
    names = {name for _, _, name in seen}
    assert {"gcs_server", "raylet"} <= names, names  # the sampling saw Ray itself
    exposed = sorted(s for s in seen if s[0] not in LOOPBACK)
    assert exposed == [], f"listening beyond loopback: {exposed}"


def test_a_one_machine_ray_start_head_listens_on_loopback_only(ray_auth_env, tmp_path):
    """The README's recipe for a one-machine cluster: `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 ray start --head
    --node-ip-address=127.0.0.1` with the dashboard and the Ray Client server; a driver joins it."""
    from conftest import _own_processes, _stop, free_ports

    port, dashboard, client = free_ports(3)
    temp_dir = tempfile.mkdtemp(prefix="mlslisten-", dir="/tmp")
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
    head = [str(Path(sys.executable).parent / "ray"), "start", "--head", f"--port={port}", f"--temp-dir={temp_dir}",
            "--node-ip-address=127.0.0.1", "--num-cpus=1", "--include-dashboard=true", "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dashboard}", f"--ray-client-server-port={client}", "--disable-usage-stats"]  # fmt: skip
    try:
        done = subprocess.run(head, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        code = (
            "import ray,sys,time; ray.init(address=sys.argv[1], logging_level='ERROR');"
            "ray.get(ray.remote(lambda: 1).remote()); print('ready', flush=True); time.sleep(4)"
        )
        driver = subprocess.Popen(
            [sys.executable, "-c", code, f"127.0.0.1:{port}"], stdout=subprocess.PIPE, text=True, env=env
        )
        assert driver.stdout.readline().strip() == "ready"
        roots = [*_own_processes([temp_dir, f"127.0.0.1:{port}"]), psutil.Process(driver.pid)]
        seen = _listeners([p for root in roots for p in _tree(root)])
        driver.wait(timeout=30)
    finally:
        _stop(_own_processes([temp_dir, f"127.0.0.1:{port}", f"--gcs-address=127.0.0.1:{port}"]))
        shutil.rmtree(temp_dir, ignore_errors=True)
    names = {name for _, _, name in seen}
    assert {"gcs_server", "raylet"} <= names, names
    assert {dashboard, client} <= {p for _, p, _ in seen}  # the dashboard and Ray Client server were sampled
    exposed = sorted(s for s in seen if s[0] not in LOOPBACK)
    assert exposed == [], f"listening beyond loopback: {exposed}"
