"""Options several commands share: -v/-q (also accepted before the command), --trust-recipe, and the
recipe options (--engine, --profile, --set). -v/-q take effect when the command starts (`LoggedCommand`)."""

from __future__ import annotations

from typing import Any

import click

from mlscale.cli.logs import setup_logging


def _remember_flag(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:  # given before the command or after it: either sets it (ctx.meta is shared by both)
        ctx.meta[f"mlscale.{param.name}"] = True
    return value


_common = [
    click.option(
        "-v", "--verbose", is_flag=True, expose_value=False, callback=_remember_flag,
        help="Show debug logs, Ray/MLflow output and tracebacks.",
    ),
    click.option(
        "-q", "--quiet", is_flag=True, expose_value=False, callback=_remember_flag,
        help="Only warnings, errors and the final summary.",
    ),
]  # fmt: skip


def common(f: Any) -> Any:
    """-v/--verbose and -q/--quiet."""
    for option in reversed(_common):
        f = option(f)
    return f


def _remember_trust(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    ctx.meta["mlscale.trust_recipe"] = value
    return value


trust_option = click.option(
    "--trust-recipe",
    is_flag=True,
    expose_value=False,
    callback=_remember_trust,
    help="Use a remote engine.address / mlflow.tracking_uri that only the recipe names (default: refused).",
)


def trusted() -> bool:
    """Whether the running command was given --trust-recipe."""
    return bool(click.get_current_context().meta.get("mlscale.trust_recipe"))


recipe_options = [
    click.option(
        "--engine", "engine", default=None, help="Engine to use (overrides engine.name): local or ray."
    ),
    trust_option,
    click.option("--profile", "profiles", multiple=True, help="Profile YAML deep-merged over the recipe."),
    click.option(
        "--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override one field, e.g. train.eta=0.1."
    ),
]


def with_recipe_options(f: Any) -> Any:
    """--engine, --trust-recipe, --profile and --set."""
    for option in reversed(recipe_options):
        f = option(f)
    return f


def verbosity() -> tuple[bool, bool]:
    """(verbose, quiet) as given to the running command, before or after its name."""
    meta = click.get_current_context().meta
    return bool(meta.get("mlscale.verbose")), bool(meta.get("mlscale.quiet"))


class LoggedCommand(click.Command):
    """A command whose logging is set up from -v/-q before its body runs."""

    def invoke(self, ctx: click.Context) -> Any:
        verbose, quiet = verbosity()
        setup_logging(verbose, quiet)
        return super().invoke(ctx)


class LoggedGroup(click.Group):
    """The `mlscale` group: its commands are `LoggedCommand`s; -v/-q may also come before the command."""

    command_class = LoggedCommand
