"""Recipes: the YAML job description, its schema and its loader."""

from mlscale.recipe.load import load_recipe, recipe_hash, recipe_yaml
from mlscale.recipe.schema import (
    DataConfig,
    EngineConfig,
    MlflowConfig,
    PredictConfig,
    Recipe,
    SearchDim,
    SplitConfig,
    SyntheticConfig,
    TrainConfig,
    TuneConfig,
    metric_mode,
)

__all__ = [
    "DataConfig",
    "EngineConfig",
    "MlflowConfig",
    "PredictConfig",
    "Recipe",
    "SearchDim",
    "SplitConfig",
    "SyntheticConfig",
    "TrainConfig",
    "TuneConfig",
    "load_recipe",
    "metric_mode",
    "recipe_hash",
    "recipe_yaml",
]
