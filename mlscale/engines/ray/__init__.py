"""Engine `ray` (being split by concern; see engine.py)."""

from __future__ import annotations

from mlscale.engines.ray.engine import RayEngine, submit_job

__all__ = ["RayEngine", "submit_job"]
