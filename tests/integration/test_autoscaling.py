"""The ray engine on a cluster that grows for the run: Ray's own autoscaler with its fake multi-node provider.

The head has no CPUs; the autoscaler may add up to 2 worker nodes of 1 CPU each, and removes them a few
seconds after they fall idle. Every process of this cluster listens on 127.0.0.1 only: its head, its
monitor (which starts the fake nodes in its own process) and this test's driver run with Ray's loopback
switch (the session's `ray_loopback`), else the fake nodes take the machine's primary address.

Ray 2.60's autoscaler (v1, the one the fake provider runs under) does not publish its node groups in the GCS;
Ray's autoscaler v2 of later releases reports them there (the cluster config that
`ray._private.state.state.get_cluster_config()` reads). The fixture reports this cluster's own node groups
the way that autoscaler does, through the same GCS call.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import BIN, LEAN, _own_processes, _stop, free_ports

import mlscale
from mlscale.errors import EngineError, RecipeError
from mlscale.workflow.run import plan

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[2]
WORKER_TYPE = "ray.worker.cpu"
SMALL = {**LEAN, "tune": None, "predict": None, "train.num_boost_round": 20}


@dataclass(frozen=True)
class AutoscalingHead:
    address: str
    markers: list[str]  # what the command lines of its processes (head, monitor, nodes) hold

    def listeners_beyond_loopback(self) -> list[str]:
        """Addresses its processes listen on that are not loopback (an IPv4-mapped ::ffff:127.0.0.1 is)."""
        import psutil

        pids = {q.pid for p in _own_processes(self.markers) for q in [p, *p.children(recursive=True)]}
        found = []
        for c in psutil.net_connections("inet"):
            if c.pid not in pids or c.status != psutil.CONN_LISTEN:
                continue
            ip = ipaddress.ip_address(c.laddr.ip)
            if not (getattr(ip, "ipv4_mapped", None) or ip).is_loopback:
                found.append(f"{c.laddr.ip}:{c.laddr.port} (pid {c.pid})")
        return found


def _config(address: str) -> dict:
    return {
        "cluster_name": "mlscale-autoscaling",
        "max_workers": 2,
        "upscaling_speed": 1.0,
        "idle_timeout_minutes": 0.1,
        "provider": {
            "type": "fake_multinode",
            "gcs_address": address,
            # the fake nodes all share 127.0.0.1: the monitor tells them apart by node id (else they stay
            # "uninitialized" and are never removed when idle)
            "use_node_id_as_ip": True,
            "disable_node_updaters": True,
            "disable_launch_config_check": True,
        },
        "available_node_types": {
            "ray.head.default": {"resources": {"CPU": 0}, "node_config": {}, "max_workers": 0},
            WORKER_TYPE: {"resources": {"CPU": 1}, "node_config": {}, "min_workers": 0, "max_workers": 2},
        },
        "head_node_type": "ray.head.default",
        **{k: [] for k in ("initialization_commands", "setup_commands", "head_setup_commands")},
        **{k: [] for k in ("worker_setup_commands", "head_start_ray_commands", "worker_start_ray_commands")},
        "file_mounts": {},
        "cluster_synced_files": [],
        "docker": {},
        "auth": {},
    }


def _publish_node_groups(address: str) -> None:
    """What Ray's autoscaler v2 reports to the GCS: each node group's resources and max count."""
    from ray._raylet import GcsClient
    from ray.core.generated import autoscaler_pb2

    config = autoscaler_pb2.ClusterConfig()
    group = config.node_group_configs.add(name=WORKER_TYPE, min_count=0, max_count=2)
    group.resources["CPU"] = 1
    GcsClient(address).report_cluster_config(config.SerializeToString())


@pytest.fixture(scope="module")
def autoscaling_head(ray_auth_env, ray_loopback):
    temp_dir = tempfile.mkdtemp(prefix="mlsauto-", dir="/tmp")
    port, dashboard, client, agent, metrics, runtime_env = free_ports(6)
    address = f"127.0.0.1:{port}"
    config = Path(temp_dir) / "autoscaling.yaml"
    config.write_text(yaml.safe_dump(_config(address)))
    env = {
        **os.environ,
        "RAY_FAKE_CLUSTER": "1",
        "AUTOSCALER_UPDATE_INTERVAL_S": "1",
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    head = [
        str(BIN / "ray"), "start", "--head", "--num-cpus=0", "--node-ip-address=127.0.0.1",
        f"--port={port}", f"--temp-dir={temp_dir}", "--include-dashboard=false",
        f"--dashboard-port={dashboard}", f"--ray-client-server-port={client}",
        f"--dashboard-agent-listen-port={agent}", f"--metrics-export-port={metrics}",
        f"--runtime-env-agent-port={runtime_env}", "--disable-usage-stats",
        f"--autoscaling-config={config}",
    ]  # fmt: skip
    from ray._raylet import Config

    Config.initialize("")  # the GCS client below reads RAY_AUTH_MODE from the config Ray cached at import
    markers = [temp_dir, f"--gcs-address={address}", f"--address={address}"]
    try:
        done = subprocess.run(head, env=env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"ray start --head failed:\n{done.stdout}\n{done.stderr}")
        _publish_node_groups(address)
        yield AutoscalingHead(address, markers)
    finally:
        _stop(_own_processes(markers))
        shutil.rmtree(temp_dir, ignore_errors=True)


def _gcs(address: str):
    from ray._raylet import GcsClient

    return GcsClient(address)


def _cpu_nodes(address: str) -> int:
    return sum(
        1 for n in _gcs(address).get_all_node_info().values() if n.state == 0 and n.resources_total.get("CPU")
    )


def _requested(address: str) -> list:
    """What stands requested of the autoscaler (`request_resources`), as it reads it."""
    raw = _gcs(address).internal_kv_get(b"autoscaler_resource_request", None)
    return json.loads(raw) if raw else []


def _head_alone(address: str) -> bool:
    """No worker node up, and none pending or being launched by the autoscaler (its own status report)."""
    raw = _gcs(address).internal_kv_get(b"__autoscaling_status", None)
    report = (json.loads(raw) if raw else {}).get("autoscaler_report") or {}
    busy = (
        report.get("pending_nodes")
        or report.get("pending_launches")
        or WORKER_TYPE in report.get("active_nodes", {})
    )
    return _cpu_nodes(address) == 0 and bool(report) and not busy


def _wait_head_alone(address: str, timeout: float = 90) -> float:
    started = time.monotonic()
    while not _head_alone(address):
        if time.monotonic() - started > timeout:
            raise AssertionError(f"the cluster did not come back to the head alone in {timeout} s")
        time.sleep(1)
    return time.monotonic() - started


def _recipe(head: AutoscalingHead, **overrides):
    sets = {**SMALL, "engine.name": "ray", "engine.address": head.address, "engine.workers": 2, **overrides}
    return ROOT / "recipes/breast_cancer.yaml", sets


def test_plan_says_what_it_asks_for_and_refuses_what_the_largest_cluster_cannot_hold(
    autoscaling_head, workdir
):
    recipe, sets = _recipe(autoscaling_head)
    planned = plan(recipe, overrides=sets)
    with pytest.raises(RecipeError) as refused:
        plan(recipe, overrides={**sets, "engine.workers": 3})
    steps = dict(planned.engine.steps)
    assert steps["cluster"].endswith("0 node(s), 0 CPU, 0 GPU")
    assert steps["autoscaler"] == f"may add {WORKER_TYPE}: up to 2 more node(s) of 1 CPU"
    assert steps["scale"].startswith("asks the autoscaler for 2 node(s) of 1 CPU, waits up to 600 s")
    assert steps["train"].startswith("2 worker(s) x 1 CPU")
    message = str(refused.value)
    assert (
        "\n" not in message
        and "engine.workers=3" in message
        and "largest size its autoscaler allows" in message
    )
    assert _cpu_nodes(autoscaling_head.address) == 0 and _requested(autoscaling_head.address) == []


def test_a_scale_up_timeout_fails_the_run_and_clears_the_request(autoscaling_head, workdir):
    from mlflow.tracking import MlflowClient

    _wait_head_alone(autoscaling_head.address)
    recipe, sets = _recipe(autoscaling_head, **{"engine.ray.scale_timeout_s": 0.5})
    with pytest.raises(EngineError) as failed:
        mlscale.run(recipe, overrides=sets)
    assert "did not add 2 node(s) of 1 CPU within engine.ray.scale_timeout_s=0.5" in str(failed.value)
    assert "\n" not in str(failed.value)
    assert _requested(autoscaling_head.address) == []
    client = MlflowClient(f"sqlite:///{workdir}/mlflow.db")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert [r.info.status for r in runs] == ["FAILED"] and "time_scale_s" in runs[0].data.metrics


def test_a_run_scales_up_from_the_head_alone_trains_and_lets_the_cluster_shrink(
    autoscaling_head, ray_cluster, workdir
):
    address = autoscaling_head.address
    _wait_head_alone(address)
    events: list[tuple[str, dict]] = []
    exposed: list[str] = []

    def progress(kind: str, info: dict) -> None:
        events.append((kind, dict(info)))
        if kind == "phase" and info["name"] == "train":  # the nodes it asked for are up
            exposed.extend([*autoscaling_head.listeners_beyond_loopback(), f"{_cpu_nodes(address)} nodes"])

    recipe, sets = _recipe(autoscaling_head)
    result = mlscale.run(recipe, overrides=sets, progress=progress)
    released = time.monotonic()
    assert exposed == ["2 nodes"]  # every listener of the head, its monitor and both nodes on 127.0.0.1
    assert result.timings["time_scale_s"] > 0
    nodes = [i for k, i in events if k == "nodes"]
    assert nodes and nodes[-1]["want"] == 2
    assert _requested(address) == []  # released: the autoscaler may remove the nodes
    fixed = mlscale.run(recipe, overrides={**sets, "engine.address": ray_cluster})  # 2 nodes of 1 CPU
    assert "time_scale_s" not in fixed.timings
    assert result.metrics == pytest.approx(fixed.metrics, abs=1e-9)
    _wait_head_alone(address)
    shrunk = time.monotonic() - released
    print(
        f"time_scale_s={result.timings['time_scale_s']:.1f} back to the head alone {shrunk:.1f} s after the run"
    )
