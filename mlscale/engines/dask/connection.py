"""Connecting to Dask: a private LocalCluster on 127.0.0.1, a running scheduler (its address or its
scheduler file), or the `distributed.Client` this process already has (a notebook's), used and never closed.

A scheduler that does not answer fails in seconds (a TCP probe, then the client's own connect timeout),
in one line. The private cluster listens on 127.0.0.1 only: scheduler, nannies and workers are bound
there (the workers an adaptive one starts later too: they share the spec), and its dashboard is off unless
engine.dask.dashboard (then on 127.0.0.1, a free port). With engine.dask.adapt it starts with the minimum
of workers and Dask's adaptive loop on (adaptive.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dask
import distributed

from mlscale.engines.dask.layout import WorkerInfo, private_shape, workers_of
from mlscale.engines.dask.scheduler import present_workers, scheduler_identity
from mlscale.errors import EngineError
from mlscale.recipe.engine_config import scheduler_endpoint
from mlscale.recipe.schema import EngineConfig
from mlscale.results import ClusterInfo
from mlscale.util.interrupts import sigterm_handler_kept
from mlscale.util.text import first_line

if TYPE_CHECKING:
    from mlscale.engines.dask.adaptive import AdaptiveCluster

log = logging.getLogger("mlscale")
HINT = "check engine.dask.address and that the scheduler is up"


@dataclass
class Connection:
    """A started connection: the client, the cluster's description and workers, and what we own."""

    client: distributed.Client
    cluster: ClusterInfo
    workers: list[WorkerInfo]
    owned: bool  # the client (and any private cluster) is ours to close
    local_cluster: distributed.LocalCluster | None = None
    adaptive: AdaptiveCluster | None = None  # the private cluster's adaptive loop (engine.dask.adapt)

    def close(self) -> None:
        """Close what this connection started; never fails, never touches a client it did not start."""
        if not self.owned:
            return
        with contextlib.suppress(Exception):
            self.client.close(timeout=10)
        if self.local_cluster is not None:
            with contextlib.suppress(Exception):
                self.local_cluster.close(timeout=20)


def existing_client() -> distributed.Client | None:
    """The Client this process made its default (a notebook's `Client(...)`), if any and still running."""
    try:
        client = distributed.default_client()
    except ValueError:
        return None
    return client if client.status == "running" else None


def connect(config: EngineConfig) -> Connection:
    """Join or start a Dask cluster as `config` asks."""
    settings = config.dask
    client = existing_client()
    owned, cluster = client is None, None
    if client is not None:
        log.info("dask: using this process's Dask client (%s)", scheduler_of(client))
        if settings.adapt is not None:
            log.info(
                "dask: engine.dask.adapt scales a private cluster only: that client's cluster is not scaled"
            )
    elif settings.cluster_address is None:
        client, cluster = _private(config)
    else:
        client = _join(str(settings.address), settings.connect_timeout)
    try:
        workers = workers_of(scheduler_identity(client))
    except Exception as exc:
        if owned:
            Connection(client, ClusterInfo(engine="dask"), [], True, cluster).close()
        raise EngineError(f"dask: the scheduler did not describe its workers ({first_line(exc)})") from exc
    info = ClusterInfo(
        engine="dask",
        nodes=len({w.host for w in workers}) or 1,
        cpus=float(sum(w.threads for w in workers)),
        gpus=0,
        versions={"dask": dask.__version__, "distributed": distributed.__version__},
        address=settings.address or (scheduler_of(client) if not owned else "local"),
        started_here=cluster is not None,
    )
    conn = Connection(client=client, cluster=info, workers=workers, owned=owned, local_cluster=cluster)
    if cluster is not None and settings.adapt is not None:
        from mlscale.engines.dask.adaptive import AdaptiveCluster

        conn.adaptive = AdaptiveCluster(cluster, client, settings.adapt)
        most, threads = private_shape(config, os.cpu_count() or 1)
        info.cpus = float(most * threads)  # what it runs at its largest (it starts with the minimum)
        try:
            conn.adaptive.start()
        except Exception as exc:
            conn.close()
            raise EngineError(f"dask: could not turn on adaptive scaling ({first_line(exc)})") from exc
    return conn


def _join(address: str, timeout: float) -> distributed.Client:
    scheme, host, port = scheduler_endpoint(address)  # validated with the recipe: the host trust decided on
    address = f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"
    try:  # refused at once where nothing listens; the client's own attempt would wait the whole timeout
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise EngineError(
            f"dask: cannot connect to {address} (nothing answers there: {exc.strerror or exc}); {HINT}"
        ) from exc
    try:
        return distributed.Client(address, timeout=timeout, set_as_default=False)
    except Exception as exc:
        raise EngineError(f"dask: cannot connect to {address} ({first_line(exc)}); {HINT}") from exc


def _private(config: EngineConfig) -> tuple[distributed.Client, distributed.LocalCluster]:
    """A LocalCluster of engine.workers processes on 127.0.0.1 (the adaptive minimum with
    engine.dask.adapt), and a client of it."""
    workers, threads = private_shape(config, os.cpu_count() or 1)
    if config.dask.adapt is not None:
        workers = config.dask.adapt.minimum
    verbose = log.isEnabledFor(logging.DEBUG)
    kwargs: dict[str, Any] = {
        "n_workers": workers,
        "threads_per_worker": threads,
        "processes": True,
        "host": "127.0.0.1",
        "dashboard_address": "127.0.0.1:0" if config.dask.dashboard else None,
        "worker_dashboard_address": None,
        "silence_logs": logging.INFO if verbose else logging.ERROR,
    }
    if not verbose:
        kwargs["env"] = {"PYTHONWARNINGS": "ignore"}
    try:
        # the nannies' start must not replace the caller's SIGTERM handler (SIGTERM marks the run KILLED)
        with sigterm_handler_kept():
            cluster = distributed.LocalCluster(**kwargs)
    except Exception as exc:
        raise EngineError(f"dask: could not start a private LocalCluster ({first_line(exc)})") from exc
    try:
        client = distributed.Client(cluster, set_as_default=False)
    except Exception as exc:
        with contextlib.suppress(Exception):
            cluster.close()
        raise EngineError(f"dask: could not connect to the private LocalCluster ({first_line(exc)})") from exc
    return client, cluster


def scheduler_of(client: distributed.Client) -> str:
    """The address of the scheduler a client is connected to."""
    return str(getattr(client.scheduler, "address", "") or "")


def worker_pids(client: distributed.Client, workers: list[str] | None = None) -> dict[str, int]:
    """Each worker's process id, asked of the workers themselves."""
    return dict(client.run(os.getpid, workers=workers))


def check_workers(client: distributed.Client, workers: list[str], *, doing: str) -> None:
    """EngineError when one of `workers` has left the cluster (killed, lost, restarted by its nanny under a
    new address): work pinned to it would wait for it forever."""
    try:
        present = present_workers(client)
    except Exception:  # the scheduler itself did not answer: the work's own error says more
        return
    gone = [w for w in workers if w not in present]
    if gone:
        raise EngineError(
            f"dask: worker {gone[0]} left the cluster during {doing} (killed or lost); the run stops "
            "(run it again: the cluster's other workers are free)"
        )
