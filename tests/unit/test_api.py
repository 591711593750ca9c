"""The public surface: names, cheap import, picklable errors and their exit codes."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import mlscale
from mlscale import errors

REPO = Path(__file__).resolve().parents[2]

EXPECTED_ALL = [
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

HEAVY = ("ray", "mlflow", "xgboost")


def test_all_is_exactly_the_public_api() -> None:
    assert mlscale.__all__ == EXPECTED_ALL
    assert mlscale.__all__ == sorted(mlscale.__all__)
    assert len(set(mlscale.__all__)) == len(mlscale.__all__)


@pytest.mark.parametrize("name", EXPECTED_ALL)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(mlscale, name) is not None


def test_star_import_gives_the_public_names() -> None:
    namespace: dict[str, object] = {}
    exec("from mlscale import *", namespace)
    assert set(EXPECTED_ALL) <= set(namespace)


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="module 'mlscale' has no attribute 'nope'"):
        _ = mlscale.nope  # type: ignore[attr-defined]
    assert not hasattr(mlscale, "also_nope")


def test_version_is_a_string() -> None:
    from mlscale._version import __version__

    assert isinstance(mlscale.__version__, str) and mlscale.__version__ == __version__
    assert all(part.isdigit() for part in mlscale.__version__.split(".")[:2])


def test_public_names_point_at_their_homes() -> None:
    from mlscale.recipe import Recipe, load_recipe
    from mlscale.workflow.run import RunResult

    assert mlscale.Recipe is Recipe
    assert mlscale.load_recipe is load_recipe
    assert mlscale.RunResult is RunResult
    for name in ("DataError", "EngineError", "MlscaleError", "ModelError", "RecipeError", "TrackingError"):
        assert getattr(mlscale, name) is getattr(errors, name)


# --- import cost --------------------------------------------------------------------------------------

_PROBE = """
import json, sys
stage = {}
import mlscale
stage["import"] = sorted(m for m in %(heavy)r if m in sys.modules)
r = mlscale.load_recipe("recipes/breast_cancer.yaml", overrides=["train.eta=0.05"], engine="ray")
assert r.engine.name == "ray"
stage["load_recipe"] = sorted(m for m in %(heavy)r if m in sys.modules)
from mlscale.recipe import recipe_yaml, recipe_hash
recipe_yaml(r); recipe_hash(r)
mlscale.RunResult
stage["run_result"] = sorted(m for m in %(heavy)r if m in sys.modules)
from mlscale.cli import main
try:
    main(["validate", "recipes/wine.yaml"])
except SystemExit as exc:
    assert exc.code == 0, exc.code
stage["cli_validate"] = sorted(m for m in %(heavy)r if m in sys.modules)
sys.stderr.write(json.dumps(stage))
"""


def test_import_and_load_recipe_do_not_import_heavy_packages() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE % {"heavy": HEAVY}],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    stages = json.loads(proc.stderr.strip().splitlines()[-1])
    assert stages == {"import": [], "load_recipe": [], "run_result": [], "cli_validate": []}


# --- errors -------------------------------------------------------------------------------------------

ERROR_CLASSES = [
    (errors.MlscaleError, 1),
    (errors.RecipeError, 2),
    (errors.DataError, 2),
    (errors.ModelError, 2),
    (errors.RegistryError, 2),
    (errors.EngineError, 1),
    (errors.TrackingError, 1),
    (errors.VersionError, 1),
]


@pytest.mark.parametrize(("cls", "code"), ERROR_CLASSES, ids=[c.__name__ for c, _ in ERROR_CLASSES])
def test_exit_codes(cls: type[errors.MlscaleError], code: int) -> None:
    assert cls.exit_code == code
    assert cls("x").exit_code == code


@pytest.mark.parametrize(("cls", "code"), ERROR_CLASSES, ids=[c.__name__ for c, _ in ERROR_CLASSES])
def test_errors_pickle_round_trip(cls: type[errors.MlscaleError], code: int) -> None:
    message = f"r.yaml: train.eta must be a number > 0.0, got 0 ({cls.__name__}, 'quotes', ünïcode)"
    original = cls(message)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        copy = pickle.loads(pickle.dumps(original, protocol=protocol))
        assert type(copy) is cls
        assert str(copy) == message
        assert copy.message == message
        assert copy.args == (message,)
        assert copy.exit_code == code


@pytest.mark.parametrize(("cls", "code"), ERROR_CLASSES, ids=[c.__name__ for c, _ in ERROR_CLASSES])
def test_errors_are_mlscale_errors(cls: type[errors.MlscaleError], code: int) -> None:
    assert issubclass(cls, errors.MlscaleError) and issubclass(cls, Exception)
    with pytest.raises(errors.MlscaleError) as info:
        raise cls("boom")
    assert str(info.value) == "boom" and repr(info.value) == f"{cls.__name__}('boom')"


def test_bad_input_errors_are_distinct_classes() -> None:
    assert not issubclass(errors.RecipeError, errors.DataError)
    assert not issubclass(errors.DataError, errors.RecipeError)
    with pytest.raises(errors.RecipeError):
        mlscale.load_recipe(REPO / "recipes" / "does_not_exist.yaml")
