"""Engine `dask`, one module per concern (see engine.py); importing the facade does not import dask.

`DaskEngine` loads on first use (PEP 562), so `mlscale plan` without an address and a worker unpickling a
function of one module import only what that module needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlscale.engines.dask.engine import DaskEngine

__all__ = ["DaskEngine"]


def __getattr__(name: str) -> Any:
    if name == "DaskEngine":
        from mlscale.engines.dask.engine import DaskEngine

        return DaskEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
