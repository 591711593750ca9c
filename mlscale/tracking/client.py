"""The MLflow client every tracking module uses: an explicit client per store URI, the lock around a sqlite
store's first open, and MLflow errors shortened to one line."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def store_init_lock(uri: str) -> Iterator[None]:
    """Serialise the first open of a sqlite store: two processes creating its tables at once collide
    (measured: "table _alembic_tmp_trace_tags already exists"). Locks the directory, adds no file."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    try:
        import fcntl
    except ImportError:  # not on POSIX: no lock
        yield
        return
    fd = os.open(Path(uri.removeprefix("sqlite:///")).parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def open_client(uri: str) -> Any:
    """An explicit MLflow client for `uri` (never the process-wide tracking URI)."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def short_error(exc: BaseException) -> str:
    """The first line of an MLflow error, at most 200 characters (for one-line messages)."""
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
