"""One run: load -> start engine -> the phases (`mlscale.workflow.phases.PHASES`), timed and tracked.

No YAML, no CLI, no ray here: the recipe arrives validated, engines come from the registry,
and everything MLflow goes through `tracking`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlscale.assess.reference import ReferenceResult
from mlscale.data import Dataset, input_columns
from mlscale.data.leaks import leak_scores, leak_suspects
from mlscale.data.streamed import prepare_for_training
from mlscale.deploy.submit import JobResult, submit
from mlscale.engines import get_engine
from mlscale.errors import DataError, MlscaleError, RecipeError
from mlscale.modeling.model import Model
from mlscale.modeling.training import params_problem
from mlscale.recipe import Recipe, recipe_hash
from mlscale.recipe.resolve import resolve_recipe
from mlscale.recipe.task_metrics import metrics_problem
from mlscale.recipe.trust import require_confirmed
from mlscale.results import ClusterInfo, OnProgress, PredictResult, TuneResult
from mlscale.tracking import models as tracking_models
from mlscale.tracking import promotion, registry
from mlscale.tracking import runs as tracking
from mlscale.tracking.promotion import Promotion
from mlscale.tuning import state
from mlscale.util.interrupts import terminated
from mlscale.util.masking import mask_text
from mlscale.util.scoped import restoring
from mlscale.workflow.context import RunContext, Timer
from mlscale.workflow.outputs import check_outputs
from mlscale.workflow.phases import PHASES
from mlscale.workflow.plan import Plan, check_plan, plan
from mlscale.workflow.versions import check_versions, version_tags

__all__ = ["JobResult", "Plan", "RunResult", "plan", "predict", "run", "submit"]

log = logging.getLogger("mlscale")


@dataclass
class RunResult:
    """What `mlscale.run` returns: numbers, the model, and where everything was logged."""

    run_id: str
    experiment: str
    tracking_uri: str  # where the run was logged, its credentials masked (as in every output of mlscale)
    metrics: dict[str, float]
    timings: dict[str, float]
    model: Model
    model_uri: str | None
    output_path: Path | None
    cluster: ClusterInfo
    recipe: Recipe
    tune: TuneResult | None = None
    plots: list[Path] = field(default_factory=list)  # on disk beside predict.output; [] without predict
    run_url: str | None = None  # the MLflow UI page of the run (for a local store: once `mlflow ui` runs)
    reference: ReferenceResult | None = None  # the reference model's scores (evaluate.reference)
    quality_warning: str | None = None  # set when the model is clearly worse than the reference
    promotion: Promotion | None = None  # what mlflow.promote decided for this run's version
    report: Path | None = None  # report.html beside predict.output (or in output/), also logged in the run

    @property
    def booster(self) -> Any:
        return self.model.booster

    @classmethod
    def of(cls, ctx: RunContext, run_id: str) -> RunResult:
        """The result of a finished run: what its phases left in the context, the tracker's addresses."""
        tracker = ctx.tracker
        return cls(
            run_id=run_id,
            experiment=tracker.experiment,
            tracking_uri=mask_text(tracker.uri),
            run_url=tracking.run_url(tracker.uri, tracker.experiment_id, run_id),
            metrics=ctx.metrics,
            timings=dict(ctx.timer.timings),
            model=ctx.model,
            model_uri=ctx.model_uri,
            output_path=ctx.output,
            cluster=ctx.cluster,
            recipe=ctx.recipe,
            tune=ctx.tune_result,
            plots=ctx.plots,
            reference=ctx.reference,
            quality_warning=ctx.quality_warning,
            report=ctx.report,
            promotion=ctx.promotion,
        )


@restoring
def run(
    recipe: str | Path | Recipe,
    *,
    engine: str | None = None,
    profiles: Iterable[str | Path] = (),
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
    address: str | None = None,
    resume: bool = False,
    parent_run_id: str | None = None,
    progress: OnProgress | None = None,
    trust_recipe: bool = False,
    overwrite: bool = False,
) -> RunResult:
    """Run a recipe end to end and log it to MLflow. Raises MlscaleError subclasses on bad input.
    `overwrite`: replace existing files at the run's outputs that mlscale did not write (`--overwrite`)."""
    total_started = time.perf_counter()
    resolved = resolve_recipe(recipe, engine=engine, profiles=profiles, overrides=overrides, address=address)
    recipe, source, reads = resolved.confirm(trust=trust_recipe).recipe, resolved.source, resolved.reads
    uri = tracking.resolve_uri(recipe.mlflow.tracking_uri)
    check_outputs(recipe, source, command="run", store=uri, overwrite=overwrite, reads=reads)
    versions = check_versions(engine=recipe.engine.name)
    tracking.check_reachable(uri)
    if recipe.mlflow.registered_model:
        registry.check_registry(uri, where=f"{source}: mlflow.registered_model")
    timer = Timer(progress)

    data, external_model = _load(recipe, uri, source, timer)
    eng = get_engine(recipe.engine)
    tracker: tracking.RunTracker | None = None
    try:
        with timer.phase("startup"):
            cluster = eng.start()
        log.info("engine %s: %s", cluster.engine, cluster.layout)
        check_plan(eng.plan(recipe.train, recipe.tune, recipe.predict), source)
        tracker = tracking.RunTracker(uri, recipe.mlflow.experiment or recipe.name)
        tags = _run_tags(recipe, data, cluster, versions, parent_run_id)
        previous = _interrupted_run(tracker, tags, eng.name, source) if resume else None
        run_id = previous or tracker.start(run_name=recipe.mlflow.run_name, tags=tags)
        with state.hold(run_id, eng.name, where=f"{source}: ") as state_dir:
            if previous:
                tracker.start(run_name=recipe.mlflow.run_name, tags=tags, run_id=previous)
                log.info("resuming mlflow run %s", previous)
            log.info("mlflow run %s (%s)", run_id, mask_text(uri))
            ctx = RunContext(
                recipe=recipe,
                data=data,
                engine=eng,
                tracker=tracker,
                cluster=cluster,
                timer=timer,
                source=source,
                state_dir=state_dir,
                total_started=total_started,
                resume=resume,
                external_model=external_model,
            )
            result = _run_phases(ctx)
        state.release(run_id, eng.name)  # finished: nothing left to resume
        return result
    except KeyboardInterrupt as exc:
        if tracker is not None:
            tracker.log_metrics_quietly(timer.timings)
            which = "SIGTERM" if terminated(exc) else "SIGINT"
            tracker.finish("KILLED", error=f"interrupted ({which})")
        raise
    except BaseException as exc:
        if tracker is not None:
            tracker.log_metrics_quietly(timer.timings)  # how far it got, and how long each phase took
            tracker.finish("FAILED", error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        eng.stop()


def _load(recipe: Recipe, uri: str, source: str, timer: Timer) -> tuple[Dataset, Model | None]:
    """The load phase: the prepared data, and predict.model when the recipe names one."""
    with timer.phase("load"):
        data = prepare_for_training(recipe, source=source)
        schema = data.schema  # on the train rows in memory (a sample of them when streamed)
        scores = leak_scores(data.x_train, data.y_train, schema.task, levels=schema.categories)
        data.leak_suspects = leak_suspects(scores, schema.task)
        _preflight_params(recipe, data, source)
        promotion.check(recipe.mlflow.promote, data, source)
        external_model = _preflight_predict(recipe, uri, source, data)
    for note in data.notes:
        log.info(note)
    if data.missing_target_dropped:
        log.warning(
            "data: %d row(s) with a missing %r left out (data.missing_target: drop)",
            data.missing_target_dropped,
            data.schema.target,
        )
    for suspect in data.leak_suspects:
        log.warning("%s", suspect.warning(data.schema.target))
    return data, external_model


def _run_tags(
    recipe: Recipe,
    data: Dataset,
    cluster: ClusterInfo,
    versions: dict[str, str | None],
    parent_run_id: str | None,
) -> dict[str, str]:
    """The run's tags: where it ran, with which versions, on which recipe and data."""
    return {
        **cluster.tags(),
        **version_tags(versions),
        "host.cpu_count": str(os.cpu_count()),
        "recipe.name": recipe.name,
        "recipe.hash": recipe_hash(recipe),
        "recipe.data_key": state.data_key(recipe),
        "task": data.schema.task,
        "task.inferred": str(data.task_inferred).lower(),
        **({tracking.PARENT_TAG: parent_run_id} if parent_run_id else {}),
    }


def _run_phases(ctx: RunContext) -> RunResult:
    """Every phase in order, then the run's result."""
    for phase in PHASES:
        phase(ctx)
    tracker = ctx.tracker
    if tracker.run_id is None:
        raise MlscaleError("run: the MLflow run has no id")
    return RunResult.of(ctx, tracker.run_id)


def _interrupted_run(tracker: tracking.RunTracker, tags: Mapping[str, str], engine: str, source: str) -> str:
    """The newest interrupted run of this recipe, on this data, that no live process holds."""
    candidates = tracker.interrupted_runs(tags["recipe.hash"], tags["recipe.data_key"])
    free = [run_id for run_id in candidates if not state.is_held(run_id, engine)]
    if free:
        return free[0]
    if candidates:
        raise RecipeError(
            f"{source}: --resume: run {candidates[0]} is still running in another process; wait for it or "
            "stop it"
        )
    raise RecipeError(
        f"{source}: --resume: no interrupted run of this recipe in experiment {tracker.experiment!r}"
    )


def _preflight_params(recipe: Recipe, data: Dataset, source: str) -> None:
    """Fail before anything starts on metrics that do not fit the task, which may have been inferred from
    the target, and on parameters xgboost refuses (it says so only when training)."""
    task, train = data.schema.task, recipe.train
    problem = metrics_problem(
        task,
        train.eval_metric,
        objective=train.params.get("objective"),
        tune_metric=recipe.tune.metric if recipe.tune else None,
        task_note=f", inferred from the target {data.schema.target!r}" if data.task_inferred else "",
    )
    if problem is not None:
        raise RecipeError(f"{source}: {problem}")
    problem = params_problem(recipe.train, data)
    if problem is not None:
        raise RecipeError(f"{source}: train: xgboost does not accept the parameters ({problem})")


def _preflight_predict(recipe: Recipe, uri: str, source: str, data: Dataset | None = None) -> Model | None:
    """Fail before training on a predict section that cannot work: missing input, columns or model."""
    p = recipe.predict
    if p is None:
        return None
    model = None
    if p.model is not None:
        model = tracking_models.load_model(p.model, tracking_uri=uri, where=f"{source}: predict.model")
    if p.input is not None:
        columns = input_columns(p.input, where=f"{source}: predict.input")
    elif data is not None:
        columns = [str(c) for c in data.test_frame.columns]
    else:
        return model
    features = model.schema.features if model is not None else (data.schema.features if data else [])
    for key, wanted in (("id_columns", p.id_columns), ("input", features)):
        missing = [c for c in wanted if c not in columns]
        if missing:
            what = "id column" if key == "id_columns" else "feature column"
            raise DataError(
                f"{source}: predict.{key}: {what}(s) {', '.join(map(repr, missing))} not in the predict input"
            )
    return model


@restoring
def predict(
    recipe: str | Path | Recipe,
    *,
    model: str,
    input: str | None = None,
    output: str | None = None,
    engine: str | None = None,
    profiles: Iterable[str | Path] = (),
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
    address: str | None = None,
    progress: OnProgress | None = None,
    trust_recipe: bool = False,
    overwrite: bool = False,
) -> Path:
    """Batch inference only, with a model from MLflow or a directory: `mlscale predict`. `overwrite`:
    replace an existing output that mlscale did not write (`--overwrite`)."""
    arguments = {"predict.input": input, "predict.output": output, "predict.model": model}
    resolved = resolve_recipe(
        recipe, engine=engine, profiles=profiles, overrides=overrides, arguments=arguments, address=address
    )
    recipe, source = resolved.recipe, resolved.source
    checks = Scoring(command="predict", trust_recipe=trust_recipe, overwrite=overwrite, reads=resolved.reads)
    loaded = preflight_scoring(recipe, source, checks)
    assert recipe.predict is not None  # preflight_scoring refuses a recipe without one
    eng = get_engine(recipe.engine)
    timer = Timer(progress)
    try:
        with timer.phase("startup"):
            eng.start()
        with timer.phase("predict"):
            result = eng.predict(
                loaded,
                recipe.predict,
                data=None,
                where=f"{source}: predict",
                progress=timer.on_progress,
            )
    finally:
        eng.stop()
    log_scored(result, command="predict", done="predicted")
    return result.output


@dataclass(frozen=True)
class Scoring:
    """How `mlscale predict` or `mlscale explain` (`command`) was asked to check its recipe and output."""

    command: str
    trust_recipe: bool
    overwrite: bool
    reads: tuple[tuple[str, Path], ...]  # the recipe and profile files (Resolved.reads)


def preflight_scoring(recipe: Recipe, source: str, checks: Scoring) -> Model:
    """What `mlscale predict` and `mlscale explain` check before reading a row: a confirmed recipe,
    known-good versions, a predict input and a safe output, the model and the input's columns.
    Returns the model."""
    command = checks.command
    require_confirmed(recipe, source, trust=checks.trust_recipe)
    check_versions(engine=recipe.engine.name)
    uri = tracking.resolve_uri(recipe.mlflow.tracking_uri)
    if recipe.predict is None or recipe.predict.input is None:
        raise RecipeError(f"{source}: predict.input is required for mlscale {command} (give --input)")
    check_outputs(recipe, source, command=command, store=uri, overwrite=checks.overwrite, reads=checks.reads)
    model = _preflight_predict(recipe, uri, source)
    if model is None:  # predict.model is set above: _preflight_predict loaded it or raised
        raise RecipeError(f"{source}: predict.model is required for mlscale {command} (give --model)")
    return model


def log_scored(result: PredictResult, *, command: str, done: str) -> None:
    """The log lines of a finished predict or explain: unseen categories (scored as missing), rows, time."""
    for col, n in result.unseen_categories.items():
        log.warning("%s: %d value(s) of %r were not seen in training; %s as missing", command, n, col, done)
    log.info("%s: %d rows in %.2fs -> %s", command, result.rows, result.seconds, result.output)
