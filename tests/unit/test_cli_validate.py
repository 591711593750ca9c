"""`mlscale validate` and `--version`: exit codes, one-line errors, tracebacks. In process, except the
console-script and `python -m mlscale.cli` smoke tests at the end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import CliResult

import mlscale
from mlscale.recipe import recipe_yaml

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "mlscale"
_CLI: dict[str, Any] = {}


@pytest.fixture(autouse=True)
def _in_process(run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    _CLI["run"] = run_cli


def cli(*args: str | Path, script: bool = False, module: bool = False) -> CliResult:
    """`mlscale ARGS` in this process; script / module: through the console script / `python -m mlscale.cli`."""
    if not (script or module):
        return _CLI["run"](*args)
    command = [str(SCRIPT)] if script else [sys.executable, "-m", "mlscale.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FORCE_COLOR", "CLICOLOR"))}
    env["NO_COLOR"] = "1"
    proc = subprocess.run(
        [*command, *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=60, env=env
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def bad_recipe(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text("name: t\ndata: {source: sklearn, dataset: iris}\ntrian: {eta: 0.1}\n")
    return path


def assert_one_line_error(proc: CliResult, message: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr == f"error: {message}\n"
    assert "Traceback" not in proc.stderr
    assert "\x1b[" not in proc.stderr  # no colour codes when stderr is not a terminal


def test_validate_prints_the_resolved_recipe() -> None:
    proc = cli("validate", "recipes/breast_cancer.yaml")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    printed = yaml.safe_load(proc.stdout)
    assert printed["name"] == "breast_cancer"
    assert printed["train"]["max_depth"] == 4
    assert printed["train"]["subsample"] == 1.0  # defaults are resolved, not only what the file says
    assert proc.stdout == recipe_yaml(mlscale.load_recipe(REPO / "recipes" / "breast_cancer.yaml"))


def test_validate_applies_set_profile_and_engine(tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text("train: {max_depth: 2, eta: 0.2}\nengine: {workers: 4}\n")
    proc = cli(
        "validate",
        "recipes/wine.yaml",
        "--profile",
        profile,
        "--set",
        "train.eta=0.05",
        "--set",
        "train.eval_metric=[mlogloss]",
        "--engine",
        "ray",
    )
    assert proc.returncode == 0, proc.stderr
    printed = yaml.safe_load(proc.stdout)
    assert printed["train"]["eta"] == 0.05
    assert printed["train"]["max_depth"] == 2
    assert printed["train"]["eval_metric"] == ["mlogloss"]
    assert printed["engine"]["name"] == "ray" and printed["engine"]["workers"] == 4


def test_validate_prints_randint_bounds_as_ints(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: t\ndata: {source: sklearn, dataset: iris}\ntune:\n  space:\n"
        "    max_depth: {randint: [2, 10]}\n    max_bin: {kind: randint, low: 16.0, high: 64}\n"
        "    eta: {uniform: [0.01, 0.3]}\n"
    )
    proc = cli("validate", recipe)
    assert proc.returncode == 0, proc.stderr
    assert (
        "      low: 2\n      high: 10\n" in proc.stdout and "      low: 16\n      high: 64\n" in proc.stdout
    )
    space = yaml.safe_load(proc.stdout)["tune"]["space"]
    assert [type(space[name][b]) for name in ("max_depth", "max_bin") for b in ("low", "high")] == [int] * 4
    assert (space["eta"]["low"], space["eta"]["high"]) == (0.01, 0.3)


def test_bad_recipe_is_one_line_exit_2(bad_recipe: Path) -> None:
    assert_one_line_error(
        cli("validate", bad_recipe), f"{bad_recipe}: unknown key trian (did you mean 'train'?)"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--set", "train.eta"],
            "--set: expected KEY=VALUE with a dotted KEY like train.eta=0.1, got 'train.eta'",
        ),
        (
            ["--set", "train.max_dept=3"],
            "--set train.max_dept: train has no key 'max_dept' (did you mean 'max_depth'?)",
        ),
        (
            ["--engine", "spark"],
            "recipes/breast_cancer.yaml: engine.name: unknown engine 'spark', expected one of local, ray, dask",
        ),
        (["--set", "train.eta=0"], "recipes/breast_cancer.yaml: train.eta must be a number > 0.0, got 0"),
        (["--profile", "nope.yaml"], "nope.yaml: profile file not found"),
    ],
    ids=["set-no-equals", "set-missing-path", "unknown-engine", "set-out-of-range", "missing-profile"],
)
def test_bad_options_are_one_line_exit_2(args: list[str], message: str) -> None:
    assert_one_line_error(cli("validate", "recipes/breast_cancer.yaml", *args), message)


def test_missing_recipe_is_one_line_exit_2() -> None:
    assert_one_line_error(cli("validate", "recipes/nope.yaml"), "recipes/nope.yaml: recipe file not found")


def test_verbose_shows_the_traceback(bad_recipe: Path) -> None:
    proc = cli("validate", "--verbose", bad_recipe)
    assert proc.returncode == 2
    assert "Traceback (most recent call last)" in proc.stderr
    assert "mlscale.errors.RecipeError" in proc.stderr
    assert proc.stderr.splitlines()[-1] == f"error: {bad_recipe}: unknown key trian (did you mean 'train'?)"


def test_usage_error_exits_2() -> None:
    proc = cli("validate")
    assert proc.returncode == 2
    assert "Usage:" in proc.stderr and "Missing argument" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_command_exits_2() -> None:
    proc = cli("trian", "recipes/breast_cancer.yaml")
    assert proc.returncode == 2
    assert "No such command 'trian'" in proc.stderr


def test_version() -> None:
    proc = cli("--version")
    assert proc.returncode == 0
    assert proc.stdout == f"mlscale, version {mlscale.__version__}\n"


def test_help_lists_the_commands() -> None:
    proc = cli("--help")
    assert proc.returncode == 0
    for command in ("run", "validate", "predict"):
        assert command in proc.stdout


@pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed in this environment")
def test_console_script(bad_recipe: Path) -> None:
    assert cli("--version", script=True).stdout == f"mlscale, version {mlscale.__version__}\n"
    ok = cli("validate", "recipes/diabetes.yaml", script=True)
    assert ok.returncode == 0 and yaml.safe_load(ok.stdout)["task"] == "regression"
    assert_one_line_error(
        cli("validate", bad_recipe, script=True), f"{bad_recipe}: unknown key trian (did you mean 'train'?)"
    )


def test_python_m_mlscale_cli(bad_recipe: Path) -> None:
    assert cli("--version", module=True).stdout == f"mlscale, version {mlscale.__version__}\n"
    assert_one_line_error(
        cli("validate", bad_recipe, module=True), f"{bad_recipe}: unknown key trian (did you mean 'train'?)"
    )
