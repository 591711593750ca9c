"""Engine registry: names map to import paths, imported only when a run asks for them."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlscale.engines.base import Engine
    from mlscale.recipe.schema import EngineConfig

from mlscale.engine_names import BUILTIN as ENGINES  # noqa: F401  (the built-in engines, by name)
from mlscale.engine_names import known


def get_engine(config: EngineConfig) -> Engine:
    """Instantiate the engine a recipe names (built in, installed or registered). Never picks Ray on its own."""
    module_name, _, cls_name = known()[config.name].partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, cls_name)(config)
