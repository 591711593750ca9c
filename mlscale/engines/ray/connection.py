"""Connecting to Ray: address forms, token auth, a TCP probe, loopback-only local instances, cluster shape.

No address -> a private local Ray on 127.0.0.1 (dashboard off); `auto` / host:port -> join a `ray start`
cluster; ray://host:port -> Ray Client. Token auth stays on (see docs/guide.md, Security notes).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from mlscale.errors import EngineError
from mlscale.recipe.endpoint import Endpoint, parse_cluster_address
from mlscale.recipe.schema import EngineConfig
from mlscale.results import ClusterInfo
from mlscale.util.interrupts import sigterm_handler_kept

log = logging.getLogger("mlscale")
# mlscale/ itself, shipped to Ray Client sessions and Ray Jobs as py_modules
PACKAGE_DIR = Path(__file__).resolve().parents[2]

AUTH_HINT = (
    "the cluster uses token authentication: export RAY_AUTH_MODE=token and the cluster's token as "
    "RAY_AUTH_TOKEN (or in ~/.ray/auth_token, or a file named by RAY_AUTH_TOKEN_PATH)"
)


@dataclass
class Connection:
    """A started connection: the cluster's description, its nodes' CPUs, and whether we own it."""

    cluster: ClusterInfo
    node_cpus: list[float]
    owned: bool


def _token_available() -> bool:
    if os.environ.get("RAY_AUTH_TOKEN"):
        return True
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or str(Path.home() / ".ray" / "auth_token")
    return Path(path).is_file()


def token_mode_if_available() -> None:
    """Present the token to a cluster when one is at hand and RAY_AUTH_MODE is unset.

    Ray turns token mode on by itself only for `auto`, never for an explicit address; and it reads
    RAY_AUTH_MODE into a config cached at import, so setting the variable alone was not enough (measured:
    InvalidAuthToken with the token in RAY_AUTH_TOKEN_PATH). Refresh the cache as Ray's own switch does."""
    if os.environ.get("RAY_AUTH_MODE") is not None or not _token_available():
        return
    os.environ["RAY_AUTH_MODE"] = "token"
    try:
        from ray._raylet import Config  # type: ignore[attr-defined]  # compiled module, no stub for Config

        Config.initialize("")
    except Exception:  # a Ray without this cache: the variable is all it reads
        log.debug("ray: could not refresh Ray's config after enabling token mode", exc_info=True)


def quiet_ray() -> None:
    """Ray's chatter stays out of the terminal unless --verbose."""
    if log.isEnabledFor(logging.DEBUG):
        return
    os.environ.setdefault("RAY_DATA_LOG_LEVEL", "WARNING")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    for name in ("ray", "ray.data", "ray.tune", "ray.train"):
        logging.getLogger(name).setLevel(logging.WARNING)


def connect(config: EngineConfig) -> Connection:
    """Join or start Ray as `config` asks (an existing connection is used, never shut down)."""
    address = config.ray.address
    quiet_ray()
    owned = False
    if ray.is_initialized():  # a notebook's own connection: use it, never shut it down
        log.info("ray: using the existing Ray connection")
    else:
        _init(address, config.ray.dashboard)
        owned = True
    resources = ray.cluster_resources()
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    # Nodes without CPUs (a KubeRay head with num-cpus 0) run no workers, trials or predictors.
    cpus = (float(n["Resources"].get("CPU", 0)) for n in nodes)
    cluster = ClusterInfo(
        engine="ray",
        nodes=len(nodes),
        cpus=float(resources.get("CPU", 0)),
        gpus=float(resources.get("GPU", 0)),
        versions={"ray": ray.__version__},
        address=address or "local",
        started_here=address is None,
    )
    return Connection(
        cluster=cluster, node_cpus=sorted((c for c in cpus if c > 0), reverse=True), owned=owned
    )


def _init(address: str | None, dashboard: bool) -> None:
    if address:
        token_mode_if_available()
    kwargs: dict[str, Any] = {
        # ERROR unless --verbose: Ray's WARNING lines (token mode enabled, ...) are not the user's business
        "logging_level": logging.DEBUG if log.isEnabledFor(logging.DEBUG) else logging.ERROR,
        "log_to_driver": log.isEnabledFor(logging.DEBUG),
        "configure_logging": True,
    }
    if address is None:
        kwargs.update(
            address="local",
            num_cpus=os.cpu_count(),
            include_dashboard=dashboard,
            dashboard_host="127.0.0.1",
            _node_ip_address="127.0.0.1",
        )
    else:
        endpoint = parse_cluster_address(address)  # validated with the recipe: the host trust decided on
        kwargs["address"] = endpoint.address
        kwargs["runtime_env"] = {"env_vars": {"PYTHONWARNINGS": "ignore"}}
        if endpoint.address.startswith("ray://"):
            kwargs["runtime_env"]["py_modules"] = [str(PACKAGE_DIR)]
        probe(endpoint)
    try:
        # ray.init installs a SIGTERM handler that exits at once (and, for a new instance, one that kills
        # its processes): keep the caller's, so SIGTERM marks the run KILLED and stop() shuts Ray down.
        with loopback_only() if address is None else contextlib.nullcontext(), sigterm_handler_kept():
            ray.init(**kwargs)
    except Exception as exc:
        raise EngineError(connect_message(address, exc)) from exc


def connect_message(address: str | None, exc: BaseException) -> str:
    """The one-line error for a failed ray.init, with the token hint when auth may be the cause."""
    text, auth = describe(exc)
    where = address or "a new local instance"
    if auth:
        return f"ray: cannot connect to {where}: {AUTH_HINT} ({text})"
    hint = "" if os.environ.get("RAY_AUTH_MODE") == "token" else f"; if {AUTH_HINT}"
    return (
        f"ray: cannot connect to {where} ({text}); check engine.ray.address and that the cluster is up{hint}"
    )


@contextlib.contextmanager
def loopback_only() -> Iterator[None]:
    """Keep every listener of a private Ray instance on 127.0.0.1.

    `ray.init(_node_ip_address="127.0.0.1")` alone does not: Ray swaps a loopback node address for the
    machine's external one, and its agents then listen there and on 0.0.0.0 (measured, ray 2.60, with
    `ss -ltnp`). Ray keeps loopback only where it treats the machine as unable to cluster
    (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, read at import and by the processes it starts); with it, every
    listener of the instance was on 127.0.0.1. Restored afterwards, so a later connection to a real
    cluster from this process is unaffected.
    """
    from ray._private import ray_constants

    env_key = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
    old_env, old_flag = os.environ.get(env_key), getattr(ray_constants, "ENABLE_RAY_CLUSTER", None)
    os.environ[env_key] = "0"
    if old_flag is not None:
        ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        if old_env is None:
            os.environ.pop(env_key, None)
        else:
            os.environ[env_key] = old_env
        if old_flag is not None:
            ray_constants.ENABLE_RAY_CLUSTER = old_flag


def probe(endpoint: Endpoint, timeout: float = 5.0) -> None:
    """Fail in seconds on a host:port where nothing listens: ray.init retries such an address for minutes
    (measured: still retrying after 5 min, Ray's C++ warnings on the terminal). `auto` finds its own."""
    if endpoint.host is None or endpoint.port is None:
        return  # `auto`
    try:
        socket.create_connection((endpoint.host, endpoint.port), timeout=timeout).close()
    except OSError as exc:
        raise EngineError(
            f"ray: cannot connect to {endpoint.value} (nothing answers there: {exc.strerror or exc}); "
            "check engine.ray.address and that the cluster is up"
        ) from exc


def describe(exc: BaseException) -> tuple[str, bool]:
    """(first line of the error, whether it is about authentication): both connect paths use it."""
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:300]
    return text, "auth" in text.lower() or "token" in text.lower()


def free_cpus() -> float:
    """CPUs free on the connected cluster right now."""
    return float(ray.available_resources().get("CPU", 0))


@ray.remote
def _probe_path(path: str) -> bool:
    return Path(path).is_file()


def nodes_missing(path: str) -> tuple[int, int]:
    """(nodes that cannot see `path`, nodes with CPUs), asked of a zero-CPU task pinned to each node."""
    nodes = [n["NodeID"] for n in ray.nodes() if n.get("Alive") and n["Resources"].get("CPU", 0) > 0]
    if len(nodes) < 2:
        return 0, len(nodes)
    probes = [
        _probe_path.options(
            num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)
        ).remote(path)
        for node in nodes
    ]
    seen = ray.get(probes, timeout=60)
    return sum(1 for ok in seen if not ok), len(nodes)
