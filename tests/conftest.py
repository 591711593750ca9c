"""Session fixtures: a real 2-node Ray cluster, a real `dask scheduler` with 2 `dask worker`s and a real
MLflow server, all on 127.0.0.1.

Each fixture stops only the processes it started (found by its own temp dir / port), never `ray stop`.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LEAN = {"evaluate.plots": False, "evaluate.reference": "off", "evaluate.explain.enabled": False}
"""Overrides for a run whose test looks at none of the plots, the reference model and SHAP (on a small
table, about half of a run's time)."""
LEAN_SET = [part for key, value in LEAN.items() for part in ("--set", f"{key}={str(value).lower()}")]
"""`LEAN` as the CLI's options."""


CLUSTER_FIXTURES = ("ray_head", "dask_cluster")


def _one_at_a_time(item: pytest.Item) -> bool:
    """Whether a test runs in the one-process part of `make test`: it uses a session cluster (directly or
    through another fixture), or it starts or joins Ray (marked `ray`, or an `engine` parameter of "ray").

    Two Ray instances starting at once on one machine can meet: a private instance's driver once reached
    another instance's GCS (gRPC binds its ports with SO_REUSEPORT). Dask's private clusters bind port 0 and
    run beside anything."""
    if any(fixture in getattr(item, "fixturenames", ()) for fixture in CLUSTER_FIXTURES):
        return True
    params = getattr(getattr(item, "callspec", None), "params", {})
    engine_ray = any(isinstance(value, str) and value == "ray" for value in params.values())
    return item.get_closest_marker("ray") is not None or engine_ray


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`make test` runs the tests not marked `serial` on every core (pytest-xdist), then the `serial` ones
    in one process: each session cluster starts once, and no two Ray instances start at the same time."""
    for item in items:
        if _one_at_a_time(item):
            item.add_marker(pytest.mark.serial)


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """`n` distinct free ports: all bound at once before any is released (asking one at a time, the OS
    handed the same port out twice: `ray start --port=38465 --dashboard-port=38465` failed)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """A threaded HTTP server on 127.0.0.1 with `handler`, for as long as the block runs; yields its port."""
    httpd = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()


def _own_processes(markers: list[str]) -> list:
    import psutil

    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if proc.pid != os.getpid() and any(m in cmd for m in markers):
            found.append(proc)
    return found


def _stop(procs: list, timeout: float = 10) -> None:
    import psutil

    everything = []
    for p in procs:
        try:
            everything += [p, *p.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
    for p in everything:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.terminate()
    _, alive = psutil.wait_procs(everything, timeout=timeout)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()


@pytest.fixture(scope="session")
def ray_auth_env():
    """Token auth on, with a token of our own (the user's ~/.ray/auth_token is left alone)."""
    tmp = Path(tempfile.mkdtemp(prefix="mls-auth-"))
    token_file = tmp / "auth_token"
    token_file.write_text(secrets.token_hex(32))
    env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_file)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def ray_loopback():
    """RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 for the session, as mlscale sets it around a private instance
    (`connection.loopback_only`): Ray keeps 127.0.0.1 as the node address of the session's cluster and of
    every driver that joins it (this process, `mlscale` subprocesses, the notebook's kernel, Ray Jobs)."""
    from mlscale.engines.ray.connection import loopback_only

    with loopback_only():
        yield


@dataclass(frozen=True)
class RayHead:
    address: str  # GCS, for engine.address
    dashboard: str  # http://127.0.0.1:port, for the Jobs API
    client: str  # ray://127.0.0.1:port, the Ray Client server
    markers: tuple[str, ...] = ()  # what the command lines of its processes hold (`_own_processes`)


@pytest.fixture(scope="session")
def ray_head(ray_auth_env, ray_loopback):
    """A real 2-node cluster (1 CPU each): `ray start --head` plus a second `ray start --address`.

    The head has the dashboard (Jobs API) and the Ray Client server; every node and listener is on
    127.0.0.1 (`ray_loopback`, tests/ray_loopback_start.py).
    """
    temp_dir = tempfile.mkdtemp(prefix="mlsray-", dir="/tmp")
    port, dashboard_port, client_port = free_ports(3)
    address = f"127.0.0.1:{port}"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_DEDUP_LOGS": "0"}
    common = ["--num-cpus=1", "--disable-usage-stats", "--node-ip-address=127.0.0.1"]
    ray_start = [sys.executable, str(ROOT / "tests/ray_loopback_start.py"), "start"]
    head = [
        *ray_start,
        "--head",
        f"--port={port}",
        f"--temp-dir={temp_dir}",
        "--include-dashboard=true",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dashboard_port}",
        f"--ray-client-server-port={client_port}",
        *common,
    ]
    worker = [*ray_start, f"--address={address}", *common]
    # the head's Ray Client proxy names neither the temp dir nor the GCS address as written
    markers = (temp_dir, address, f"--gcs-address={address}", f"--port={client_port} --mode=proxy")
    try:
        for cmd in (head, worker):
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
        _wait_nodes(address, 2)
        yield RayHead(
            address, f"http://127.0.0.1:{dashboard_port}", f"ray://127.0.0.1:{client_port}", markers
        )
    finally:
        _stop(_own_processes(list(markers)), timeout=3)  # the suite's own cluster: nothing to save
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def ray_cluster(ray_head):
    """The session cluster's address (`engine.address`)."""
    return ray_head.address


def _wait_nodes(address: str, n: int, timeout: float = 60) -> None:
    code = (
        "import ray,sys; ray.init(address=sys.argv[1], logging_level='ERROR');"
        "print(sum(1 for x in ray.nodes() if x['Alive']))"
    )
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = subprocess.run([sys.executable, "-c", code, address], capture_output=True, text=True)
        if out.stdout.strip() == str(n):
            return
        time.sleep(1)
    raise RuntimeError(f"cluster at {address} did not reach {n} nodes")


@dataclass(frozen=True)
class DaskCluster:
    address: str  # tcp://127.0.0.1:port, for engine.dask.address
    scheduler_file: Path
    log_dir: Path  # scheduler.log, worker0.log, worker1.log


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[DaskCluster]:
    """A real `dask scheduler` and 2 `dask worker`s (1 thread each, with their nannies), every listener on
    127.0.0.1 (the dashboards too: the scheduler serves HTTP on 0.0.0.0 unless told otherwise); stopped by
    PID at the end of the session."""
    import psutil

    tmp = Path(tempfile.mkdtemp(prefix="mlsdask-", dir="/tmp"))
    scheduler_file = tmp / "scheduler.json"
    address = f"tcp://127.0.0.1:{free_port()}"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    loopback = ["--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0"]
    scheduler = [str(BIN / "dask"), "scheduler", "--port", address.rsplit(":", 1)[1], *loopback]
    scheduler += ["--scheduler-file", str(scheduler_file)]
    worker = [str(BIN / "dask"), "worker", address, "--nthreads", "1", *loopback]
    procs, logs = [], []
    try:
        for name, cmd in [
            ("scheduler", scheduler),
            *((f"worker{i}", [*worker, "--name", f"w{i}", "--local-directory", str(tmp)]) for i in range(2)),
        ]:
            logs.append(open(tmp / f"{name}.log", "w"))  # noqa: SIM115 - closed at the end of the session
            procs.append(
                subprocess.Popen(
                    cmd, env=env, cwd=tmp, stdout=logs[-1], stderr=subprocess.STDOUT, start_new_session=True
                )
            )
            if name == "scheduler":
                _wait_for(
                    scheduler_file.exists, f"dask scheduler did not start:\n{_tail(tmp / 'scheduler.log')}"
                )
        wait_dask_workers(address, 2)
        yield DaskCluster(address, scheduler_file, tmp)
    finally:
        _stop([psutil.Process(p.pid) for p in procs if p.poll() is None])
        for log in logs:
            log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def wait_dask_workers(address: str, n: int, timeout: float = 60) -> None:
    """Wait until the scheduler at `address` has `n` workers (a restarted one comes back under a new address)."""
    code = (
        "import sys, distributed; c = distributed.Client(sys.argv[1], timeout=10, set_as_default=False);"
        "print(len(c.scheduler_info(n_workers=-1)['workers'])); c.close()"
    )

    def ready() -> bool:
        out = subprocess.run([sys.executable, "-c", code, address], capture_output=True, text=True)
        return out.stdout.strip() == str(n)

    _wait_for(ready, lambda: f"dask scheduler at {address} did not reach {n} workers", timeout=timeout)


def _wait_for(ready: Any, message: Any, timeout: float = 60) -> None:
    """Poll `ready()` twice a second; RuntimeError(message()) after `timeout` s."""
    deadline = time.time() + timeout
    while not ready():
        if time.time() > deadline:
            raise RuntimeError(message())
        time.sleep(0.5)


def _tail(path: Path) -> str:
    return path.read_text()[-3000:] if path.exists() else ""


@pytest.fixture(scope="session")
def mlflow_server():
    """A real `mlflow server` (sqlite backend, temp artifact dir) on 127.0.0.1 and a free port."""
    tmp = Path(tempfile.mkdtemp(prefix="mls-mlflow-"))
    port = free_port()
    cmd = [
        str(BIN / "mlflow"), "server",
        "--backend-store-uri", f"sqlite:///{tmp}/mlflow.db",
        "--artifacts-destination", str(tmp / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    uri = f"http://127.0.0.1:{port}"
    try:
        with started(cmd, uri + "/health", tmp / "server.log"):
            yield uri
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def started(
    cmd: list[str], ready_url: str, log_path: Path, *, env: dict[str, str] | None = None, timeout: float = 90
) -> Iterator[None]:
    """`cmd` running (its output in `log_path`) once `ready_url` answers 200; on exit it is stopped by its
    PID, with its children."""
    import psutil

    log = open(log_path, "w")  # noqa: SIM115 - closed on exit
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + timeout
        while True:
            try:
                with urllib.request.urlopen(ready_url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                what = " ".join([Path(cmd[0]).name, *itertools.takewhile(lambda a: a[:1] != "-", cmd[1:])])
                raise RuntimeError(f"{what} did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield
    finally:
        with contextlib.suppress(psutil.NoSuchProcess):
            _stop([psutil.Process(proc.pid)])
        log.close()


@dataclass
class CliResult:
    """What `mlscale ARGS` did, as a finished process would report it."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, cli_state) -> Any:
    """`run_cli(*args, cwd=None)`: `mlscale ARGS` in this process (in `cwd` when given) as a CliResult."""

    def run(*args: Any, cwd: Path | None = None) -> CliResult:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        return CliResult(*cli_in_process([str(a) for a in args], capsys))

    return run


def cli_in_process(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `mlscale ARGS` called in this process (the CLI restores the
    environment, logger settings and warning filters it changes)."""
    from mlscale.cli import main

    with pytest.raises(SystemExit) as exited:
        main(args)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


@pytest.fixture(autouse=True)
def _mlflow_tracking_uri_per_test():
    """Tests that call mlflow.set_tracking_uri (which also sets MLFLOW_TRACKING_URI in os.environ) must not
    leave a deleted tmp store as the next test's default: mlscale itself no longer sets MLflow's global."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    if "mlflow" in sys.modules:
        from mlflow.tracking._tracking_service import utils

        utils._tracking_uri = None
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before


@pytest.fixture
def cli_state():
    """For tests that call the CLI in process: it quiets MLflow and Ray through the environment and
    warning filters, which must not leak into later tests."""
    import warnings

    environ = dict(os.environ)
    with warnings.catch_warnings():
        yield
    os.environ.clear()
    os.environ.update(environ)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Each run in its own directory with its own sqlite store (tracking env cleared)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path
