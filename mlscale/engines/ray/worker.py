"""Helpers that run inside Ray worker processes (training workers, trials, inference tasks)."""

from __future__ import annotations

import threading

import ray

from mlscale.errors import EngineError, MlscaleError
from mlscale.util.text import first_line

_THREADS_SET = threading.local()


def use_threads(n: int) -> None:
    """Let xgboost use the `n` threads its params ask for, in this thread.

    Ray sets OMP_NUM_THREADS to a worker's whole CPUs (1 for 0.5 or 1.75 CPU) and xgboost caps nthread by
    OpenMP's limit: measured 1 thread instead of 2 at 1.75 CPU, a fit 1.65x slower. Reserving fractional
    CPUs leaves room for Ray Data's tasks; it must not also cost xgboost its threads."""
    if getattr(_THREADS_SET, "n", None) == n:
        return
    import xgboost  # noqa: F401  (loads the OpenMP runtime that xgboost uses)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=max(1, n), user_api="openmp")
    _THREADS_SET.n = n


def node_id() -> str:
    """The Ray node this process runs on."""
    return ray.get_runtime_context().get_node_id()


def unwrap_data_error(exc: BaseException) -> BaseException:
    """The mlscale error a task or Ray Data failure wraps (a DataError from a batch), else a one-line
    EngineError. A RayTaskError's class also derives from its cause's (so it is a DataError too), but its
    message is the worker's traceback: the cause itself is returned, with its own one-line message."""
    seen: BaseException | None = exc
    while seen is not None:
        cause = getattr(seen, "cause", None)
        if isinstance(cause, BaseException) and cause is not seen:
            seen = cause
            continue
        if isinstance(seen, MlscaleError):
            return seen
        seen = seen.__cause__
    return EngineError(f"ray: batch inference failed ({first_line(exc)})")
