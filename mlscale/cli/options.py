"""Options several commands share: -v/-q (also accepted before the command), --trust-recipe, and RECIPE
with its options (--engine, --profile, --set). -v/-q take effect when the command starts (`LoggedCommand`)."""

from __future__ import annotations

import functools
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
        "-v", "--verbose", is_flag=True, expose_value=False, callback=_remember_flag,
        help="Show debug logs, Ray/MLflow output and tracebacks.",
    ),
    click.option(
        "-q", "--quiet", is_flag=True, expose_value=False, callback=_remember_flag,
        help="Only warnings, errors and the final summary.",
    ),
]  # fmt: skip


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
    "outside the working directory (default: refused).",
)


def trusted() -> bool:
    """Whether the running command was given --trust-recipe."""
    return bool(click.get_current_context().meta.get("mlscale.trust_recipe"))


profile_option = click.option(
    "--profile", "profiles", multiple=True, help="Profile YAML deep-merged over the recipe."
)
set_option = click.option(
    "--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override one field, e.g. train.eta=0.1."
)
recipe_options = [
    click.option(
        "--engine", "engine", default=None, help="Engine to use (overrides engine.name): local or ray."
    ),
    trust_option,
    profile_option,
    set_option,
]


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
