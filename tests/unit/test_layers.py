"""Import layers point down: cli → bench → runner → engines/tracking → ... → recipe → errors.

Every import counts, the lazy ones inside functions too (that is where ray and mlflow are imported).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "mlscale"

# A module may import only modules of a lower rank. Add a new module here, in its place.
RANK = {
    "mlscale.errors": 0,
    "mlscale.engine_names": 0,
    "mlscale.scoped": 0,
    "mlscale._version": 0,
    "mlscale.masking": 0,
    "mlscale.interrupts": 0,
    "mlscale.recipe.schema": 1,
    "mlscale.recipe.trust": 1,
    "mlscale.categories": 1,
    "mlscale.recipe.load": 2,
    "mlscale.recipe": 3,
    "mlscale.versions": 3,
    "mlscale.data": 4,
    "mlscale.state": 4,
    "mlscale.metrics": 4,
    "mlscale.plots": 4,
    "mlscale._job": 4,
    "mlscale.rules": 5,  # shared decisions: tune metric/mode, best trial, state dir
    "mlscale.model": 5,
    "mlscale.scaffold": 5,
    "mlscale.kuberay": 5,
    "mlscale.engines.base": 6,
    "mlscale.training": 6,
    "mlscale.reference": 6,
    "mlscale._pyfunc_model": 6,
    "mlscale.partitioned": 1,
    "mlscale.predicting": 7,
    "mlscale.engines": 7,  # the registry: names to import paths, imported lazily
    "mlscale.engines.ray.layout": 7,  # pure: no ray, shared by plan and the run
    "mlscale.engines.ray.worker": 7,
    "mlscale.engines.ray.connection": 8,
    "mlscale.engines.ray.progress": 8,
    "mlscale.engines.ray.train_data": 9,
    "mlscale.engines.ray.trainer_actors": 10,
    "mlscale.engines.ray.trainer_ray_train": 10,
    "mlscale.engines.ray.tuning": 10,
    "mlscale.engines.ray.inference": 10,
    "mlscale.engines.ray.parts": 11,
    "mlscale.engines.ray.engine": 12,  # the facade
    "mlscale.engines.ray": 12.5,  # re-exports the facade
    "mlscale.engines.local": 8,
    "mlscale.tracking": 8,
    "mlscale.registry": 8.5,  # the model registry: part of the tracking layer
    "mlscale.promotion": 9,  # gated promotion: the rule, re-scoring, and the aliases through registry
    "mlscale.jobs": 9,  # Ray Jobs submission: uses the ray connection's token handling
    "mlscale.runner": 13,
    "mlscale": 14,  # the public facade
    "mlscale.bench": 15,
    "mlscale.cli": 16,
}

RAY_ENGINE = {name for name in RANK if name.startswith("mlscale.engines.ray")}

# Third-party packages that only one layer may touch.
OWNERS = {
    "ray": (RAY_ENGINE - {"mlscale.engines.ray.layout"}) | {"mlscale.jobs"},
    "mlflow": {
        "mlscale.tracking",
        "mlscale.registry",
        "mlscale._pyfunc_model",
    },  # the latter is loaded by MLflow itself
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Every module an import statement names, `from pkg import submodule` resolved to the submodule."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                names.add(sub if sub in MODULES else node.module)
    return names


def test_every_module_has_a_rank():
    assert set(MODULES) == set(RANK)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    upward = sorted(
        f"{name} (rank {RANK[name]})"
        for name in _imports(MODULES[module])
        if name in RANK and name != module and RANK[name] >= RANK[module]
    )
    assert upward == [], f"{module} (rank {RANK[module]}) imports upward or sideways: {upward}"


@pytest.mark.parametrize("package", sorted(OWNERS))
def test_heavy_packages_have_one_owner(package):
    users = {
        module
        for module, path in MODULES.items()
        if any(name == package or name.startswith(f"{package}.") for name in _imports(path))
    }
    assert users <= OWNERS[package], f"{package} imported outside {sorted(OWNERS[package])}: {sorted(users)}"
    assert users, f"no module imports {package}: the rule checks nothing"


def test_the_ray_layout_is_pure():
    """plan() and the run share layout.py; it must stay importable and testable without Ray."""
    imported = _imports(MODULES["mlscale.engines.ray.layout"])
    assert not {n for n in imported if n == "ray" or n.startswith("ray.")}
    assert {n for n in imported if n.startswith("mlscale.")} <= {"mlscale.errors", "mlscale.recipe.schema"}


def test_the_cli_never_touches_engines():
    touched = {n for n in _imports(MODULES["mlscale.cli"]) if n.startswith("mlscale.engines")}
    assert touched == set()


def test_recipe_names_exactly_the_registered_engines():
    from mlscale.engines import ENGINES
    from mlscale.recipe.schema import ENGINE_NAMES

    assert list(ENGINE_NAMES) == list(ENGINES)
