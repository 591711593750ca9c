"""Engine `ray`, one module per concern (see engine.py); importing the facade does not import ray.

`RayEngine` loads on first use (PEP 562): a Ray worker that runs a task of one module (an inference part,
a training actor) imports that module's own needs, not the whole engine (Ray Data, Tune, Train), which
cost a cold worker about a second more before its first task.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlscale.engines.ray.engine import RayEngine

__all__ = ["RayEngine"]


def __getattr__(name: str) -> Any:
    if name == "RayEngine":
        from mlscale.engines.ray.engine import RayEngine

        return RayEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
