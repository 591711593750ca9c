"""`mlscale plan`: check a recipe against the data and the cluster without training anything."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlscale.data import describe_source, memory_plan
from mlscale.engines import get_engine
from mlscale.errors import RecipeError
from mlscale.recipe import Recipe
from mlscale.recipe.resolve import address_key, resolve_recipe
from mlscale.recipe.trust import pending
from mlscale.results import EnginePlan
from mlscale.tracking import runs as tracking
from mlscale.util.masking import mask_text
from mlscale.util.scoped import restoring
from mlscale.workflow.outputs import check_outputs
from mlscale.workflow.versions import check_versions

log = logging.getLogger("mlscale")


@dataclass
class Plan:
    """What `mlscale run` would do and where: `mlscale plan` prints it, `run` checks it first."""

    recipe: Recipe
    source: str
    data: dict[str, Any]
    engine: EnginePlan
    tracking_uri: str


@restoring
def plan(
    recipe: str | Path | Recipe,
    *,
    engine: str | None = None,
    profiles: Iterable[str | Path] = (),
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
    address: str | None = None,
    trust_recipe: bool = False,
    overwrite: bool = False,
) -> Plan:
    """Pre-flight: check a recipe against the data and the cluster without training anything.

    Connects to the engine's cluster address (`engine.<engine>.<address_field>`, e.g. engine.ray.address)
    when the user gave or confirmed it (`address`, `--set`, a profile, `trust_recipe`) to see the cluster's
    real resources; an address only the recipe names is not contacted (the plan is made for this machine
    and says so). Never starts a private cluster. Raises RecipeError naming the first thing that could never
    be scheduled, and refuses the outputs `mlscale run` would refuse (`overwrite` as there).
    """
    resolved = resolve_recipe(recipe, engine=engine, profiles=profiles, overrides=overrides, address=address)
    recipe, source, reads = resolved.recipe, resolved.source, resolved.reads
    store = tracking.resolve_uri(recipe.mlflow.tracking_uri)
    check_outputs(recipe, source, command="plan", store=store, overwrite=overwrite, reads=reads)
    check_versions(engine=recipe.engine.name)
    summary = describe_source(recipe.data, source=source)
    planned = recipe
    field = recipe.engine.settings.address_field
    joins = f"engine.{recipe.engine.name}.{field}" if field else None
    if any(
        item.guarded.kind == "cluster" or item.guarded.key == joins
        for item in pending(recipe, trust=trust_recipe)
    ):
        # plan says what it would contact instead of contacting it
        planned = recipe.model_copy(update={"engine": recipe.engine.without_address()})
    eng = get_engine(planned.engine)
    try:
        if planned.engine.settings.cluster_address:
            eng.start()
        engine_plan = eng.plan(recipe.train, recipe.tune, recipe.predict)
    finally:
        eng.stop()
    named = recipe.engine.settings.cluster_address
    if planned is not recipe and named:
        engine_plan.notes.append(
            f"{address_key(recipe, source)} {mask_text(named)} is named by the recipe only and was not contacted: "
            "this plan is for this machine (confirm it with --address or --trust-recipe)"
        )
    engine_plan.steps.append(("memory", memory_plan.for_recipe(recipe, summary, source=source).describe()))
    check_plan(engine_plan, source)
    return Plan(recipe=recipe, source=source, data=summary, engine=engine_plan, tracking_uri=mask_text(store))


def check_plan(engine_plan: EnginePlan, source: str) -> None:
    """Refuse the run on the plan's first problem; log its notes."""
    if engine_plan.problems:
        raise RecipeError(f"{source}: {engine_plan.problems[0]}")
    for note in engine_plan.notes:
        log.warning("plan: %s", note)
