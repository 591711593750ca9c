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


def _commands():
    from mlscale.cli.commands import cli

    return cli.commands


def test_one_help_convention_for_every_command() -> None:
    """Defaults as click shows them ([default: ...]), never in prose; repeatable options say so; --engine
    lists the engines; every command that connects takes --tracking-uri, and those that join a cluster
    --address."""
    import click

    ctx = click.Context(click.Command("x"))
    for name, command in _commands().items():
        for param in command.params:
            if not isinstance(param, click.Option):
                continue
            text = param.help or ""
            assert "(default" not in text.lower() and not text.startswith("Default"), (name, param.name, text)
            if param.multiple:
                assert text.endswith("Repeatable."), (name, param.name, text)
            if param.name == "engine":
                assert param.type.get_metavar(param, ctx) == "[local|ray|dask]"
    connects = {"run", "predict", "explain", "plan", "bench", "compare", "report", "submit"}
    for name in connects:
        assert "--tracking-uri" in _option_names(name), name
    for name in ("run", "predict", "plan"):
        assert "--address" in _option_names(name), name


def _option_names(command: str) -> set[str]:
    return {opt for p in _commands()[command].params for opt in getattr(p, "opts", [])}


def test_tracking_uri_is_this_commands_mlflow_store(tmp_path, run_cli, monkeypatch) -> None:
    import os

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "r.yaml").write_text(
        "name: t\ndata: {source: sklearn, dataset: iris}\ntrain: {num_boost_round: 3}\n"
        "evaluate: {reference: off, explain: {enabled: false}}\n"
    )
    done = run_cli("run", "r.yaml", "-q", "--tracking-uri", f"sqlite:///{tmp_path}/other.db", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "other.db").is_file() and not (tmp_path / "mlflow.db").exists()
    assert "MLFLOW_TRACKING_URI" not in os.environ  # for that command only


def test_address_on_an_engine_without_a_cluster_is_one_line(tmp_path, run_cli) -> None:
    (tmp_path / "r.yaml").write_text("name: t\ndata: {source: sklearn, dataset: iris}\n")
    done = run_cli("run", "r.yaml", "--address", "127.0.0.1:6379", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: r.yaml: --address: engine local runs in this process, on no cluster"
