"""Tuning state between an interrupted run and `--resume`: one directory per MLflow run, locked while used.

Keyed by the run id, not by the recipe: two concurrent runs of one recipe never share (or delete) each
other's study, and `--resume` continues exactly the run it names. The lock (an `flock` on a file beside the
directory, released by the kernel when the process dies) tells a live run from an interrupted one.
A run that finishes removes its state.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlscale.errors import RecipeError


def home() -> Path:
    """mlscale's own state: $MLSCALE_HOME, else ~/.mlscale (read at call time)."""
    return Path(os.environ.get("MLSCALE_HOME", Path.home() / ".mlscale"))


def state_dir(run_id: str, engine: str) -> Path:
    return home() / "tune" / f"{run_id}-{engine}"


def _lock_path(run_id: str, engine: str) -> Path:
    return home() / "tune" / f".{run_id}-{engine}.lock"


def is_held(run_id: str, engine: str) -> bool:
    """Whether a live process holds this run's state."""
    path = _lock_path(run_id, engine)
    if not path.exists():
        return False
    try:
        with hold(run_id, engine, where=""):
            return False
    except RecipeError:
        return True


@contextmanager
def hold(run_id: str, engine: str, *, where: str) -> Iterator[Path]:
    """Lock a run's state directory for this process; RecipeError when another live process holds it."""
    import fcntl

    path = _lock_path(run_id, engine)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RecipeError(
                f"{where}--resume: run {run_id} is still running in another process; wait for it or stop it"
            ) from None
        yield state_dir(run_id, engine)
    finally:
        os.close(fd)  # closing releases the lock


def release(run_id: str, engine: str) -> None:
    """A finished run's state is no longer needed."""
    shutil.rmtree(state_dir(run_id, engine), ignore_errors=True)
    _lock_path(run_id, engine).unlink(missing_ok=True)


def data_key(recipe: Any) -> str:
    """What the recipe's relative paths point to from here: the same recipe run from two project
    directories names two different tables (and must not resume each other's runs)."""
    data, predict = recipe.data, recipe.predict
    where = {
        "data": str(Path(data.path).resolve()) if data.path else None,
        "predict_input": str(Path(predict.input).resolve()) if predict and predict.input else None,
        "predict_output": str(Path(predict.output).resolve()) if predict else None,
    }
    return hashlib.sha256(json.dumps(where, sort_keys=True).encode()).hexdigest()[:12]
