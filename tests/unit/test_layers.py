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
    "mlscale.errors": 0.2,  # masks its messages
    "mlscale.engine_names": 0,
    "mlscale.scoped": 0,
    "mlscale._version": 0,
    "mlscale.masking": 0,
    "mlscale.mlflow_lines": 0.5,  # what MLflow prints by itself, through mlscale's log
    "mlscale.interrupts": 0,
    "mlscale.text": 0,  # one-line message helpers: first line, did you mean
    "mlscale.report_section": 1,  # the report/<section>/section.json contract
    "mlscale.recipe.endpoint": 0.4,  # URIs and cluster addresses, parsed once for trust and connection
    "mlscale.recipe.section": 0.5,  # the base of every recipe section
    "mlscale.recipe.engine_config": 0.8,  # the engine section and each engine's settings
    "mlscale.recipe.task_metrics": 0.9,  # which metrics fit which task (names only)
    "mlscale.recipe.schema": 1,
    "mlscale.recipe.trust": 1.5,  # what a recipe names on its own needs confirmation
    "mlscale.categories": 1,
    "mlscale.splitting": 1,  # the per-row train/valid/test rule
    "mlscale.streaming": 2,  # source batches and their split, for external memory
    "mlscale.memory_plan": 3,  # the peak memory estimate plan and run share
    "mlscale.recipe.load": 2,
    "mlscale.recipe": 3,
    "mlscale.versions": 3,
    "mlscale.data.files": 3.1,  # which files, their format, shards
    "mlscale.data.numeric": 3.1,
    "mlscale.data.schema": 3.2,
    "mlscale.data.sources": 3.2,
    "mlscale.data.split": 3.1,
    "mlscale.data.inputs": 3.2,  # streamed predict inputs
    "mlscale.data.prepare": 3.5,
    "mlscale.data": 4,
    "mlscale.state": 4,
    "mlscale.metrics": 4,
    "mlscale.plots": 4,
    "mlscale._job": 4,
    "mlscale.rules": 5,  # shared decisions: tune metric/mode, best trial, state dir
    "mlscale.evaluation": 5,  # pure: calibration, thresholds, per class, deciles, slices
    "mlscale.plots_eval": 5.5,
    "mlscale.plots_explain": 5,
    "mlscale.explaining": 6,  # pure: xgboost's SHAP values and what a person reads of them
    "mlscale.streamed": 5,  # prepare without loading the table (external memory)
    "mlscale.model": 5,
    "mlscale.scaffold.guess": 4.1,  # mlscale init: guesses from a sample
    "mlscale.scaffold.sample": 4.1,
    "mlscale.scaffold.plan": 4.2,
    "mlscale.scaffold.render": 4.3,
    "mlscale.scaffold": 5,
    "mlscale.kuberay": 5,
    "mlscale.results": 5.5,  # the typed results every engine returns
    "mlscale.engines.base": 6,
    "mlscale.training": 6,
    "mlscale.reference": 6,
    "mlscale.extmem": 6.5,  # xgboost DataIter and ExtMemQuantileDMatrix
    "mlscale._pyfunc_model": 6,
    "mlscale.written": 0.6,  # temp files renamed into place; the marks of a file mlscale wrote
    "mlscale.partitioned": 1,
    "mlscale.pipeline": 0,
    "mlscale.scoring_threads": 6,  # scoring on several threads: per-thread models, several files at once
    "mlscale.outputs": 6.9,  # where a command writes, and whether it may (the pre-flight output check)
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
    "mlscale.engines.ray.parts": 11,
    "mlscale.engines.ray.explain": 10,  # SHAP in Ray tasks
    "mlscale.engines.ray.engine": 12,  # the facade
    "mlscale.engines.ray": 12.5,  # re-exports the facade
    "mlscale.engines.local": 8,
    "mlscale.tracking": 8,
    "mlscale.tracking_runs": 9,  # the tracking layer's reading side: a logged run back from MLflow
    "mlscale.report.page": 2,
    "mlscale.report.render": 3,
    "mlscale.report.profile": 5,
    "mlscale.report.tuning": 10,
    "mlscale.report.collect": 11,
    "mlscale.report": 12,  # run-time hook, `mlscale report`, compare/bench --html
    "mlscale.tracking_models": 8.5,  # a logged model back from MLflow (every model URI form)
    "mlscale.registry": 8.5,  # the model registry: part of the tracking layer
    "mlscale.promotion": 9,  # gated promotion: the rule, re-scoring, and the aliases through registry
    "mlscale.jobs": 9,  # Ray Jobs submission: uses the ray connection's token handling
    "mlscale.planning": 10,  # mlscale plan
    "mlscale.submitting": 10,  # mlscale submit (Ray Jobs through mlscale.jobs)
    "mlscale.run_context": 10,  # what the phases of one run share
    "mlscale.phases": 12.9,  # the phases of one run
    "mlscale.assessing": 12.8,  # evaluation and explanations of a run, logged as report sections
    "mlscale.explain_batch": 13.5,  # mlscale explain
    "mlscale.runner": 13,
    "mlscale": 14,  # the public facade
    "mlscale.bench": 15,
    "mlscale.cli.logs": 15.1,
    "mlscale.cli.options": 15.2,
    "mlscale.cli.display": 15.2,  # rich rendering
    "mlscale.cli.commands": 15.5,
    "mlscale.cli.main": 15.7,
    "mlscale.cli": 16,
    "mlscale.cli.__main__": 16.5,
}

RAY_ENGINE = {name for name in RANK if name.startswith("mlscale.engines.ray")}

# Third-party packages that only one layer may touch.
OWNERS = {
    "ray": (RAY_ENGINE - {"mlscale.engines.ray.layout"}) | {"mlscale.jobs"},
    # the tracking layer (tracking writes, tracking_runs reads, registry: model versions and aliases);
    # _pyfunc_model is loaded by MLflow itself
    "mlflow": {
        "mlscale.tracking",
        "mlscale.tracking_runs",
        "mlscale.tracking_models",
        "mlscale.registry",
        "mlscale._pyfunc_model",
    },
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
    assert {n for n in imported if n.startswith("mlscale.")} <= {
        "mlscale.errors",
        "mlscale.recipe.schema",
        "mlscale.recipe.engine_config",
    }


def test_the_cli_never_touches_engines():
    cli = [path for name, path in MODULES.items() if name == "mlscale.cli" or name.startswith("mlscale.cli.")]
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
