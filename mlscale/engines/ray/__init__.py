"""Engine `ray`, one module per concern (see engine.py); importing the facade does not import ray."""

from __future__ import annotations

from mlscale.engines.ray.engine import RayEngine

__all__ = ["RayEngine"]
