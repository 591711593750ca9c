"""Process-wide state set for the length of one mlscale call, and put back afterwards.

mlscale quiets MLflow, Ray and Optuna (environment variables, logger levels, warning filters) and Ray
needs a few variables while it runs. A notebook that calls `mlscale.run` twice, or a test that calls the
CLI in process, must find the process as it left it: every entry point runs inside `restored()`.
"""

from __future__ import annotations

import functools
import logging
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])

# The loggers mlscale or the libraries it drives reconfigure (levels, handlers, propagation); each engine's
# own are added by its settings section (EngineSettings.loggers, through `also_restore`).
LOGGERS = ("", "mlscale", "mlflow", "optuna", "alembic", "urllib3", "py.warnings")
_ENGINE_LOGGERS: set[str] = set()


def also_restore(names: Iterable[str]) -> None:
    """Restore these loggers too after every call (an engine's libraries, declared once at import)."""
    _ENGINE_LOGGERS.update(names)


@dataclass
class _Logger:
    level: int
    handlers: list[logging.Handler]
    propagate: bool
    disabled: bool


def _loggers() -> dict[str, _Logger]:
    out = {}
    for name in (*LOGGERS, *sorted(_ENGINE_LOGGERS)):
        lg = logging.getLogger(name)
        out[name] = _Logger(lg.level, list(lg.handlers), lg.propagate, lg.disabled)
    return out


@contextmanager
def restored() -> Iterator[None]:
    """Environment variables, logger settings of `LOGGERS` and warning filters as they were on entry."""
    environ = dict(os.environ)
    loggers = _loggers()
    with warnings.catch_warnings():
        try:
            yield
        finally:
            for key in set(os.environ) - set(environ):
                del os.environ[key]
            for key, value in environ.items():
                if os.environ.get(key) != value:
                    os.environ[key] = value
            for name, saved in loggers.items():
                lg = logging.getLogger(name)
                lg.setLevel(saved.level)
                lg.handlers[:] = saved.handlers
                lg.propagate, lg.disabled = saved.propagate, saved.disabled


def restoring(func: F) -> F:
    """Run `func` inside `restored()` (the library's entry points)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with restored():
            return func(*args, **kwargs)

    return cast(F, wrapper)
