"""One way every public entry point takes a recipe: `resolve_recipe`.

`mlscale.run`, `predict`, `explain`, `plan`, `bench`, `submit` and the KubeRay renderer accept a recipe path
(with profiles, `--set` overrides, an engine and their own arguments such as predict's `--input`) or a Recipe
built in Python. Each resolves it here, once, into a `Resolved`: the validated Recipe, how messages name it,
and the files the command reads (so that no output replaces them), and then confirms what only the recipe
file names (`confirm`, the trust rule of `mlscale.recipe.trust`) unless that command only describes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlscale.errors import RecipeError
from mlscale.recipe.load import apply_override, load_recipe, recipe_source, validate, with_arguments
from mlscale.recipe.schema import Recipe
from mlscale.recipe.trust import require_confirmed


@dataclass(frozen=True)
class Resolved:
    """A recipe as an entry point received it, resolved once."""

    recipe: Recipe
    source: str  # how messages name it: the path, or `<recipe NAME>`
    reads: tuple[tuple[str, Path], ...]  # ("the recipe" | "the profile", path): files the command reads

    def confirm(self, *, trust: bool) -> Resolved:
        """Refuse (exit 2, before anything starts) what only the recipe file names, unless `trust`."""
        require_confirmed(self.recipe, self.source, trust=trust)
        return self


def resolve_recipe(
    recipe: str | Path | Recipe,
    *,
    engine: str | None = None,
    profiles: Iterable[str | Path] = (),
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
    arguments: Mapping[str, Any] | None = None,
    address: str | None = None,
) -> Resolved:
    """Load, merge and validate `recipe` (a path), or take a Recipe as it is. `arguments`: a command's own
    options as dotted keys (`{"predict.input": ...}`), applied after `overrides` (an explicit argument wins
    over `--set`); None values are left out. `address` (`--address`): the cluster to join, set as the
    argument `engine.<engine>.<its address key>`. A Recipe takes `arguments` (validated again) but no
    engine, profiles or overrides: build it with those instead."""
    if address:
        first = resolve_recipe(
            recipe, engine=engine, profiles=profiles, overrides=overrides, arguments=arguments
        )
        arguments = {**(arguments or {}), address_key(first.recipe, first.source): address}
    given = {key: value for key, value in (arguments or {}).items() if value is not None}
    profiles = list(profiles)
    if isinstance(recipe, Recipe):
        if engine or overrides or profiles:
            raise RecipeError(
                f"{recipe_source(recipe)}: engine, profiles and overrides go with a recipe path; "
                "a Recipe built in Python already holds them"
            )
        return Resolved(_with_arguments(recipe, given), recipe_source(recipe), ())
    sets = with_arguments(overrides, given) if given else overrides
    loaded = load_recipe(recipe, profiles=profiles, overrides=sets, engine=engine)
    reads = (("the recipe", Path(recipe)), *(("the profile", Path(p)) for p in profiles))
    return Resolved(loaded, str(recipe), reads)


def address_key(recipe: Recipe, source: str) -> str:
    """`engine.<engine>.<key>`: where the recipe's engine keeps its cluster address."""
    field = recipe.engine.settings.address_field
    if field is None:
        raise RecipeError(
            f"{source}: --address: engine {recipe.engine.name} runs in this process, on no cluster"
        )
    return f"engine.{recipe.engine.name}.{field}"


def _with_arguments(recipe: Recipe, arguments: Mapping[str, Any]) -> Recipe:
    if not arguments:
        return recipe
    raw = recipe.model_dump(mode="json", exclude_none=True)
    for key, value in arguments.items():
        apply_override(raw, key, value)
    return validate(raw, source=recipe_source(recipe))
