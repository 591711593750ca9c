"""How a run is laid out on a Dask cluster: pure functions of the recipe and the scheduler's workers.

No dask here: `plan` and the run call the same functions, so what `mlscale plan` reports is what the run
uses, and both can be tested without a cluster. A private cluster is described before it exists by
`private_shape`, the shape `connection.py` starts it with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlscale.errors import RecipeError
from mlscale.recipe.schema import EngineConfig


@dataclass(frozen=True)
class WorkerInfo:
    """One Dask worker as the scheduler describes it."""

    address: str
    threads: int
    memory: int = 0  # bytes the worker may use (its memory limit); 0: unknown or unlimited
    host: str = ""
    pid: int | None = None


@dataclass(frozen=True)
class TrainLayout:
    """The workers training uses (addresses, most threads first) and the xgboost threads each runs."""

    workers: tuple[WorkerInfo, ...]
    threads: int
    note: str | None = None

    @property
    def addresses(self) -> list[str]:
        return [w.address for w in self.workers]

    def describe(self) -> str:
        return f"{len(self.workers)} worker(s) x {self.threads} thread(s)"


def workers_of(info: Mapping[str, Any]) -> list[WorkerInfo]:
    """The workers of `Client.scheduler_info()`, most threads first, then by address."""
    workers = [
        WorkerInfo(
            address=address,
            threads=int(w.get("nthreads") or 1),
            memory=int(w.get("memory_limit") or 0),
            host=str(w.get("host") or ""),
            pid=w.get("pid"),
        )
        for address, w in dict(info.get("workers") or {}).items()
    ]
    return sorted(workers, key=lambda w: (-w.threads, w.address))


def private_shape(config: EngineConfig, cpus: int) -> tuple[int, int]:
    """(worker processes, threads each) of the private LocalCluster at its largest: engine.workers
    processes (engine.dask.adapt.maximum on an adaptive one) sharing this machine's CPUs
    (engine.cpus_per_worker threads each when given). RecipeError when they cannot fit."""
    adapt = config.dask.adapt
    workers, field = config.workers, "engine.workers"
    if adapt is not None:
        if config.workers > adapt.maximum:
            raise RecipeError(
                f"engine.workers={config.workers} is more than engine.dask.adapt.maximum={adapt.maximum}: "
                f"training needs its workers at once; ask for at most {adapt.maximum} or raise the maximum"
            )
        workers, field = adapt.maximum, "engine.dask.adapt.maximum"
    if config.cpus_per_worker is not None:
        threads = max(1, int(config.cpus_per_worker))
        if workers * threads > cpus:
            raise RecipeError(
                f"{field}={workers} x engine.cpus_per_worker={config.cpus_per_worker:g} is more than "
                f"this machine's {cpus} CPU for a private Dask cluster"
            )
        return workers, threads
    if workers > cpus:
        raise RecipeError(
            f"{field}={workers} is more than this machine's {cpus} CPU for a private Dask cluster; "
            f"ask for at most {cpus}"
        )
    return workers, max(1, cpus // workers)


def train_layout(config: EngineConfig, workers: list[WorkerInfo]) -> TrainLayout:
    """engine.workers of the cluster's workers (those with the most threads), each training with its
    threads (engine.cpus_per_worker when given: a worker with fewer threads is not used). RecipeError when
    the cluster has too few workers."""
    requested = config.workers
    want = config.cpus_per_worker
    fit = [w for w in workers if want is None or w.threads >= want]
    if not workers:
        raise RecipeError("the Dask cluster has no workers; start some (`dask worker <scheduler address>`)")
    if len(fit) < requested:
        each = "" if want is None else f" with at least {want:g} thread(s)"
        raise RecipeError(
            f"engine.workers={requested} is more than the Dask cluster's {len(fit)} worker(s){each}; "
            f"ask for at most {len(fit)}" + ("" if want is None else " or lower engine.cpus_per_worker")
        )
    chosen = tuple(fit[:requested])
    threads = int(want) if want is not None else min(w.threads for w in chosen)
    note = None
    if len(workers) > requested:
        note = f"dask: training on {requested} of the cluster's {len(workers)} worker(s) (engine.workers)"
    return TrainLayout(workers=chosen, threads=max(1, threads), note=note)
