"""Options several commands share: -v/-q (also accepted before the command), --trust-recipe, and RECIPE
with its options (--engine, --profile, --set, --tracking-uri). -v/-q take effect when the command starts
(`LoggedCommand`).

One help convention for every command: a default is shown as click shows it, `[default: ...]` (a computed
one in words), never in prose; an option that may be given several times ends its help with "Repeatable.";
`--engine` lists the engines that exist (built in, installed, registered)."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any, TypedDict

import click

from mlscale.cli.logs import setup_logging


def _remember_flag(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:  # given before the command or after it: either sets it (ctx.meta is shared by both)
        ctx.meta[f"mlscale.{param.name}"] = True
    return value


_common = [
    click.option(
        "-v",
        "--verbose",
        is_flag=True,
        expose_value=False,
        callback=_remember_flag,
        help="Show debug logs, Ray/MLflow output and tracebacks.",
    ),
    click.option(
        "-q",
        "--quiet",
        is_flag=True,
        expose_value=False,
        callback=_remember_flag,
        help="Only warnings, errors and the final summary.",
    ),
]


def _with(options: list[Any], f: Any) -> Any:
    """`f` decorated with `options`, listed in --help in that order."""
    for option in reversed(options):
        f = option(f)
    return f


def common(f: Any) -> Any:
    """-v/--verbose and -q/--quiet."""
    return _with(_common, f)


def _remember_trust(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    ctx.meta["mlscale.trust_recipe"] = value
    return value


trust_option = click.option(
    "--trust-recipe",
    is_flag=True,
    expose_value=False,
    callback=_remember_trust,
    help="Use what only the recipe names: a remote address or URI, a data.preprocess hook, an output path "
    "outside the working directory (without it they are refused).",
)


def trusted() -> bool:
    """Whether the running command was given --trust-recipe."""
    return bool(click.get_current_context().meta.get("mlscale.trust_recipe"))


profile_option = click.option(
    "--profile", "profiles", multiple=True, help="Profile YAML deep-merged over the recipe. Repeatable."
)
set_option = click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override one field, e.g. train.eta=0.1. Repeatable.",
)


class EngineName(click.ParamType):
    """An engine's name; `--help` lists the engines that exist when it is shown. Checked by the recipe's
    validation, so an unknown one is the same one-line error as in a recipe file."""

    name = "engine"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        from mlscale.engine_names import known

        return "[" + "|".join(known()) + "]"


def _tracking_uri_for_this_command(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value:  # the CLI restores the environment when the command ends (mlscale.cli.main)
        os.environ["MLFLOW_TRACKING_URI"] = value


TRACKING_DEFAULT = "$MLFLOW_TRACKING_URI, then mlflow.tracking_uri, then sqlite:///mlflow.db"
recipe_tracking_uri_option = click.option(
    "--tracking-uri",
    default=None,
    metavar="URI",
    expose_value=False,
    callback=_tracking_uri_for_this_command,
    show_default=TRACKING_DEFAULT,
    help="MLflow tracking server or store for this command (as MLFLOW_TRACKING_URI; confirms it).",
)
recipe_options = [
    click.option("--engine", "engine", type=EngineName(), default=None, help="Overrides engine.name."),
    trust_option,
    profile_option,
    set_option,
    recipe_tracking_uri_option,
]
cluster_option = click.option(
    "--address",
    default=None,
    help="The cluster to join: sets the engine's address key (engine ray: engine.ray.address), which "
    "confirms it like --set.",
)
tracking_uri_option = click.option(
    "--tracking-uri",
    default=None,
    metavar="URI",
    show_default="$MLFLOW_TRACKING_URI, then sqlite:///mlflow.db",
    help="MLflow tracking server or store to read the runs from.",
)


class RecipeKeywords(TypedDict):
    """What runner.run, planning.plan, runner.predict, explain_batch.explain and submitting.submit take
    besides the recipe path."""

    engine: str | None
    profiles: tuple[str, ...]
    overrides: list[str]
    trust_recipe: bool


@dataclass(frozen=True, kw_only=True)
class RecipeArgs:
    """RECIPE as a command was given it, with --engine, --profile, --set and --trust-recipe."""

    path: str
    engine: str | None
    profiles: tuple[str, ...]
    overrides: list[str]
    trust_recipe: bool

    def keywords(self) -> RecipeKeywords:
        return RecipeKeywords(
            engine=self.engine,
            profiles=self.profiles,
            overrides=self.overrides,
            trust_recipe=self.trust_recipe,
        )


def recipe_argument(f: Any) -> Any:
    """RECIPE with --engine, --trust-recipe, --profile and --set, passed as one `recipe: RecipeArgs`."""

    @functools.wraps(f)  # keeps the command's name, help and the options declared below this one
    def command(
        recipe: str, engine: str | None, profiles: tuple[str, ...], sets: tuple[str, ...], **rest: Any
    ) -> Any:
        args = RecipeArgs(
            path=recipe, engine=engine, profiles=profiles, overrides=list(sets), trust_recipe=trusted()
        )
        return f(args, **rest)

    return click.argument("recipe", type=click.Path(dir_okay=False))(_with(recipe_options, command))


overwrite_option = click.option(
    "--overwrite",
    is_flag=True,
    help="Replace existing output files that mlscale did not write (its own are always replaced).",
)

html_option = click.option(
    "--html", default=None, type=click.Path(dir_okay=False), help="Also write the table as a page."
)


def out_options(f: Any) -> Any:
    """--out and --force, for commands that print generated text (`init`, `kuberay`)."""
    return _with(
        [
            click.option(
                "--out", default=None, type=click.Path(dir_okay=False), help="Write here instead of stdout."
            ),
            click.option("--force", is_flag=True, help="Overwrite --out if it exists."),
        ],
        f,
    )


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
