"""What a recipe names on its own: a recipe is data, it does not decide where credentials go, which code
runs, or where files are written.

A recipe file travels (a repository, a notebook, a colleague's message). Some of its keys lead somewhere
(each section declares them in `endpoints`; see `mlscale.recipe.section`):
- an endpoint (`engine.ray.address`, `engine.ray.storage_path`, `mlflow.tracking_uri`, and whatever the next
  engine's settings declare): connecting there sends the user's Ray token, MLflow or cloud credentials, and
  over `ray://` the Ray Client unpickles the server's replies;
- a hook (`data.preprocess`): code imported and called with the user's rights;
- an output path (`predict.output`): a file written with the user's rights.
Like `kubectl` contexts and pip index URLs, such a value is used only when the user confirms it: the same
key given on the command line (`--address`, `--output`, `--set KEY=...`), in a `--profile` the user passes,
an environment variable that replaces it (`MLFLOW_TRACKING_URI`), `--trust-recipe`, or
`MLSCALE_TRUST_RECIPE=1`. What stays on this machine needs no confirmation: a loopback address, `auto`, a
local store or path, an output path under the working directory (symlinks followed).
"""

from __future__ import annotations

import os
import typing
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from mlscale.errors import RecipeError
from mlscale.recipe.endpoint import EndpointKind, Guard, parse_cluster_address, parse_uri
from mlscale.recipe.schema import Recipe
from mlscale.recipe.section import Section

TRUST_ENV = "MLSCALE_TRUST_RECIPE"


@dataclass(frozen=True)
class Guarded:
    """One key a recipe may name that needs the user's confirmation when only the recipe file names it."""

    key: str  # dotted, as --set spells it
    kind: EndpointKind
    env: str | None = None


def _sections(model: type[BaseModel], prefix: str) -> Iterator[Guarded]:
    endpoints: Mapping[str, Guard] = getattr(model, "endpoints", {})
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        guard = endpoints.get(name)
        if guard is not None:
            yield Guarded(key, guard.kind, guard.env)
        for inner in (field.annotation, *typing.get_args(field.annotation)):  # through `X | None`
            if isinstance(inner, type) and issubclass(inner, Section):
                yield from _sections(inner, f"{key}.")


GUARDED: tuple[Guarded, ...] = tuple(_sections(Recipe, ""))
"""Every guarded key of the recipe, collected from the sections' `endpoints` (engine sections included)."""


@dataclass(frozen=True)
class Reach:
    """Where one guarded value leads: `local` (no confirmation needed) and `place`, in words."""

    local: bool
    place: str


def reach(kind: EndpointKind, value: str) -> Reach:
    """Where a value of this kind leads. A value whose form is refused (see `mlscale.recipe.endpoint`)
    never validates; here it counts as leaving the machine."""
    if kind == "hook":
        return Reach(False, f"imports and calls {value} with your rights")
    if kind == "output":
        cwd = Path.cwd().resolve()
        target = (cwd / value).resolve()
        if target.is_relative_to(cwd):
            return Reach(True, "in the working directory")
        return Reach(False, f"outside the working directory: {target}")
    try:
        endpoint = parse_cluster_address(value) if kind == "cluster" else parse_uri(value)
    except ValueError:
        return Reach(False, "an address refused as ambiguous")
    return Reach(True, "this machine") if endpoint.local else Reach(False, endpoint.place)


def host_of(key: str, value: str) -> str | None:
    """The host an endpoint value connects to, or None when it stays on this machine."""
    kind = next(g.kind for g in GUARDED if g.key == key)
    parse = parse_cluster_address if kind == "cluster" else parse_uri
    endpoint = parse(value)
    return None if endpoint.local else (endpoint.host or endpoint.scheme)


def _attr(recipe: Any, dotted: str) -> Any:
    """The value of a dotted key on a validated recipe (None where a section on the way is unset)."""
    for part in dotted.split("."):
        recipe = getattr(recipe, part, None)
    return recipe


def _get(raw: Mapping[str, Any], dotted: str) -> Any:
    node: Any = raw
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def unconfirmed(
    recipe_raw: Mapping[str, Any], confirmed: Iterable[Mapping[str, Any]], keys: Iterable[str]
) -> tuple[str, ...]:
    """Guarded keys whose value leaves the machine and comes from the recipe file alone.

    `confirmed`: the profiles' raw mappings; `keys`: the dotted keys set by overrides (a key set by an
    override of its section, e.g. `engine`, counts too)."""
    overridden = set(keys)
    profiles = list(confirmed)
    out = []
    for guarded in GUARDED:
        value = _get(recipe_raw, guarded.key)
        if not isinstance(value, str) or reach(guarded.kind, value).local:
            continue
        parts = guarded.key.split(".")
        if any(".".join(parts[:i]) in overridden for i in range(1, len(parts) + 1)):
            continue
        if any(_get(profile, guarded.key) is not None for profile in profiles):
            continue
        out.append(guarded.key)
    return tuple(out)


def trusted_by_env() -> bool:
    return os.environ.get(TRUST_ENV, "").lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class Pending:
    """A guarded value only the recipe file names, not confirmed: refused by the commands that use it."""

    guarded: Guarded
    value: str
    place: str

    def message(self, source: str) -> str:
        key, kind = self.guarded.key, self.guarded.kind
        ways = ", ".join(w for w in (self.guarded.env, f"--set {key}=...") if w)
        confirm = f"{ways}, in a --profile, or pass --trust-recipe ({TRUST_ENV}=1)"
        if kind == "hook":
            return (
                f"{source}: {key}: only the recipe names this hook ({self.value}), which mlscale would import "
                f"and call with your rights: confirm it with {confirm}"
            )
        if kind == "output":
            return (
                f"{source}: {key}: only the recipe names this output path, {self.place}: write it under the "
                f"working directory, or confirm it with {confirm}"
            )
        return (
            f"{source}: {key}: only the recipe names this remote endpoint ({self.place}), and mlscale sends "
            f"credentials only where you confirm: give it with {confirm}"
        )


def pending(recipe: Any, *, trust: bool) -> list[Pending]:
    """The guarded values of `recipe` that still need confirmation (none when trusted)."""
    if trust or trusted_by_env():
        return []
    out = []
    for guarded in GUARDED:
        if guarded.key not in getattr(recipe, "_unconfirmed", ()):
            continue
        if guarded.env and os.environ.get(guarded.env):
            continue  # the environment's value is the one used
        value = _attr(recipe, guarded.key)
        if not isinstance(value, str):
            continue
        where = reach(guarded.kind, value)
        if not where.local:
            out.append(Pending(guarded, value, where.place))
    return out


def require_confirmed(recipe: Any, source: str, *, trust: bool) -> None:
    """Refuse (exit 2, before anything connects, runs or writes) a guarded value only the recipe names."""
    for item in pending(recipe, trust=trust):
        raise RecipeError(item.message(source))


def describe_reach(recipe: Any) -> list[str]:
    """What a run of this recipe would connect to, which user code it would import and where it would write
    outside the working directory, in words (`mlscale validate` and `mlscale plan` print these)."""
    waiting = {item.guarded.key for item in pending(recipe, trust=False)}
    lines = []
    for guarded in GUARDED:
        value = _attr(recipe, guarded.key)
        if not isinstance(value, str):
            continue
        where = reach(guarded.kind, value)
        note = "; named by the recipe only: refused unless confirmed (--trust-recipe)"
        note = note if guarded.key in waiting else ""
        if guarded.env and os.environ.get(guarded.env):
            lines.append(f"{guarded.key}: {value} (not used: {guarded.env} is set)")
        elif guarded.kind == "hook":
            lines.append(f"{guarded.key}: {where.place} before training{note}")
        elif guarded.kind != "output" or not where.local:
            lines.append(f"{guarded.key}: {value} ({where.place}{note})")
    return lines
