"""-v/-q are accepted before the command (the group) and after it (the command); RECIPE and its options
reach the runner as given."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import cli_in_process

from mlscale.cli.logs import STATE

RECIPE = str(Path(__file__).resolve().parents[2] / "recipes" / "breast_cancer.yaml")


@pytest.mark.parametrize(
    "args",
    [["-v", "validate", RECIPE], ["validate", RECIPE, "-v"], ["--verbose", "validate", RECIPE]],
)
def test_verbose_before_or_after_the_command(args, capsys, cli_state):
    code, out, _ = cli_in_process(args, capsys)
    assert code == 0 and "name: breast_cancer" in out
    assert STATE.verbose and not STATE.quiet


@pytest.mark.parametrize("args", [["-q", "validate", RECIPE], ["validate", RECIPE, "-q"]])
def test_quiet_before_or_after_the_command(args, capsys, cli_state):
    code, _, _ = cli_in_process(args, capsys)
    assert code == 0
    assert STATE.quiet and not STATE.verbose


@pytest.mark.parametrize("trust", [[], ["--trust-recipe"]])
def test_recipe_options_and_plan_address_reach_planning(trust, capsys, cli_state, monkeypatch):
    from mlscale.errors import RecipeError

    seen: dict = {}

    def fake_plan(recipe, **keywords):
        seen.update(recipe=recipe, **keywords)
        raise RecipeError("planned")

    monkeypatch.setattr("mlscale.workflow.plan.plan", fake_plan)
    args = ["plan", RECIPE, "--engine", "ray", "--profile", "p.yaml", "--set", "train.eta=0.1", "--address",
            "ray://h:10001", *trust]  # fmt: skip
    code, _, err = cli_in_process(args, capsys)
    assert code == 2 and "planned" in err
    assert seen == {
        "recipe": RECIPE,
        "engine": "ray",
        "profiles": ("p.yaml",),
        "overrides": ["train.eta=0.1"],
        "address": "ray://h:10001",
        "trust_recipe": bool(trust),
        "overwrite": False,
    }


COMMANDS = {
    # command and its arguments besides RECIPE, the function it calls
    "run": ([], "mlscale.workflow.run.run"),
    "plan": ([], "mlscale.workflow.plan.plan"),
    "predict": (["--model", "m", "--input", "in.csv"], "mlscale.workflow.run.predict"),
    "explain": (["--model", "m", "--input", "in.csv"], "mlscale.workflow.explain.explain"),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("flag", [[], ["--overwrite"]])
def test_overwrite_reaches_every_command_that_writes_outputs(command, flag, capsys, cli_state, monkeypatch):
    from mlscale.errors import RecipeError

    seen: dict = {}

    def fake(recipe, **keywords):
        seen.update(keywords)
        raise RecipeError("stopped")

    arguments, target = COMMANDS[command]
    monkeypatch.setattr(target, fake)
    code, _, err = cli_in_process([command, RECIPE, *arguments, *flag], capsys)
    assert code == 2 and "stopped" in err
    assert seen["overwrite"] is bool(flag)
