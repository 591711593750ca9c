"""mlscale: one XGBoost recipe, the same on a laptop and on a Ray cluster, tracked in MLflow.

    import mlscale
    result = mlscale.run("recipes/breast_cancer.yaml", engine="local", overrides={"train.num_boost_round": 50})
    result.metrics["test_auc"], result.run_id

Importing mlscale is cheap: ray, mlflow and xgboost load only when a run needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlscale._version import __version__
from mlscale.errors import (
    DataError,
    EngineError,
    MlscaleError,
    ModelError,
    OutputError,
    RecipeError,
    RegistryError,
    TrackingError,
    VersionError,
)
from mlscale.recipe import Recipe, load_recipe

if TYPE_CHECKING:
    from mlscale.workflow.run import RunResult

__all__ = [
    "DataError",
    "EngineError",
    "MlscaleError",
    "ModelError",
    "OutputError",
    "Recipe",
    "RecipeError",
    "RegistryError",
    "RunResult",
    "TrackingError",
    "VersionError",
    "__version__",
    "load_recipe",
    "predict",
    "run",
]


def run(recipe: Any, **kwargs: Any) -> RunResult:
    """Run a recipe (path or Recipe) end to end; see `mlscale.workflow.run.run` for keywords."""
    from mlscale.workflow.run import run as _run

    return _run(recipe, **kwargs)


def predict(recipe: Any, **kwargs: Any) -> Any:
    """Batch inference with an existing model; see `mlscale.workflow.run.predict`."""
    from mlscale.workflow.run import predict as _predict

    return _predict(recipe, **kwargs)


def __getattr__(name: str) -> Any:
    if name == "RunResult":
        from mlscale.workflow.run import RunResult

        return RunResult
    raise AttributeError(f"module 'mlscale' has no attribute {name!r}")
