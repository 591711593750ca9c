"""Import layers point down: cli → workflow → deploy/report → engines/tracking → ... → recipe → util → errors.

A layer is a package of `mlscale/` (or one of the few top-level modules). A module may import any module of
a lower layer and any module of its own package, never one of a higher or equal other layer. Every import
counts, the lazy ones inside functions too (that is where ray and mlflow are imported).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "mlscale"

# A layer may import only layers of a lower rank. A new package or top-level module gets a rank here.
RANK = {
    "mlscale.errors": 1,  # one class per cause, exit code on the class; messages masked (util.masking)
    "mlscale._version": 0,
    "mlscale.engine_names": 0,  # which engines exist (built in, installed, registered): no engine imported
    "mlscale.util": 0,  # text, masking, scoped process state, interrupts, atomic files
    "mlscale.recipe": 2,  # schema, load, trust
    "mlscale.data": 3,  # files, sources, categories, schema, split, batches, streamed, memory plan
    "mlscale.modeling": 4,  # model, training, external memory, metrics
    "mlscale.results": 5,  # the typed results every engine returns
    "mlscale.model": 5,  # the shim models logged before the packages load through
    "mlscale.assess": 6,  # evaluation, explanations (SHAP), the reference model: pure computation
    "mlscale.tuning": 6,  # objective, state
    "mlscale.scoring": 7,  # in-process and threaded scoring, the output writers
    "mlscale.engines": 8,  # the registry, base (the protocol), local, ray/, dask/
    "mlscale.tracking": 8,  # every MLflow call: runs, reading runs, models, registry, promotion, the pyfunc
    "mlscale.report": 9,  # the page, its sections and plots
    "mlscale.deploy": 9,  # Ray Jobs submit, the in-job entry, KubeRay manifests
    "mlscale.workflow": 10,  # run, predict, explain, plan, bench, the phases
    "mlscale.scaffold": 10,  # mlscale init
    "mlscale": 11,  # the public facade
    "mlscale.cli": 12,
}
MAX_TOP_LEVEL_MODULES = 8

# Third-party packages that only one layer may touch.
OWNERS = {
    "ray": ("mlscale.engines.ray", "mlscale.deploy"),  # and never engines/ray/layout.py (below)
    "mlflow": ("mlscale.tracking",),
    "dask": ("mlscale.engines.dask",),  # and never engines/dask/layout.py (below)
    "distributed": ("mlscale.engines.dask",),
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def layer(module: str) -> str:
    """mlscale.data.split -> mlscale.data; mlscale.errors -> mlscale.errors; mlscale -> mlscale."""
    return ".".join(module.split(".")[:2])


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


def _inside(module: str, owners: tuple[str, ...]) -> bool:
    return any(module == o or module.startswith(f"{o}.") for o in owners)


def test_every_layer_has_a_rank():
    assert {layer(m) for m in MODULES} == set(RANK)


def test_few_modules_at_the_top():
    """A newcomer names the layers from `ls mlscale/`: packages, and a few modules every layer shares."""
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    own = layer(module)
    upward = sorted(
        f"{name} (rank {RANK[layer(name)]})"
        for name in _imports(MODULES[module])
        if name in MODULES and layer(name) != own and RANK[layer(name)] >= RANK[own]
    )
    assert upward == [], f"{module} (rank {RANK[own]}) imports upward or sideways: {upward}"


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    """Each import cycle of `graph` (module -> modules it imports), once per place it is entered."""
    done: set[str] = set()
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycles.append(" -> ".join([*path[path.index(module) :], module]))
            return
        if module in done:
            return
        for imported in sorted(graph.get(module, ())):
            visit(imported, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    return cycles


def test_no_import_cycles():
    """Within a package modules import each other freely, but never in a circle (lazy imports included)."""
    graph = {m: {n for n in _imports(p) if n in MODULES and n != m} for m, p in MODULES.items()}
    assert _cycles(graph) == []


def test_the_cycle_check_sees_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a -> b -> c -> a"]


@pytest.mark.parametrize("package", sorted(OWNERS))
def test_heavy_packages_have_one_owner(package):
    users = {
        module
        for module, path in MODULES.items()
        if any(name == package or name.startswith(f"{package}.") for name in _imports(path))
    }
    outside = sorted(u for u in users if not _inside(u, OWNERS[package]))
    assert outside == [], f"{package} imported outside {OWNERS[package]}: {outside}"
    assert users, f"no module imports {package}: the rule checks nothing"


@pytest.mark.parametrize("engine", ["ray", "dask"])
def test_an_engines_layout_is_pure(engine):
    """plan() and the run share layout.py; it must stay importable and testable without the cluster's
    library (ray; dask and distributed)."""
    imported = _imports(MODULES[f"mlscale.engines.{engine}.layout"])
    heavy = {"ray", "dask", "distributed"}
    assert not {n for n in imported if n.split(".")[0] in heavy}
    assert {n for n in imported if n.startswith("mlscale.")} <= {
        "mlscale.errors",
        "mlscale.recipe.schema",
        "mlscale.recipe.engine_config",
    }


def test_the_cli_never_touches_engines():
    cli = [path for name, path in MODULES.items() if layer(name) == "mlscale.cli"]
    touched = {n for path in cli for n in _imports(path) if n.startswith("mlscale.engines")}
    assert len(cli) > 1
    assert touched == set()


def test_a_ray_worker_running_a_predict_part_does_not_import_the_whole_engine():
    """A cold Ray worker imports the module of its task: Ray Data, Tune and Train cost it ~0.7 s more."""
    import subprocess
    import sys

    code = (
        "import sys, mlscale.engines.ray.parts\n"
        "print(sorted(m for m in sys.modules if m.split('.')[:2] in (['ray', 'data'], ['ray', 'tune'],"
        " ['ray', 'train']) or m == 'mlscale.engines.ray.engine'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _private_imports(path: Path) -> list[str]:
    """`from mlscale.x import _name` where `_name` is a private name of another module (a private module,
    such as `_version` or `_pyfunc_model`, is imported whole and is not a private name)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mlscale"):
            names = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
            found += [f"{node.module}.{n}" for n in names if f"{node.module}.{n}" not in MODULES]
    return found


def test_no_module_imports_another_modules_private_names():
    offenders = {m: names for m, path in _modules().items() if (names := _private_imports(path))}
    assert offenders == {}, "make the helper public in its module (or move it to a shared one)"
