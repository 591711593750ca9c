"""One run: load -> start engine -> train -> tune -> log model -> predict, timed and tracked.

No YAML, no CLI, no ray here: the recipe arrives validated, engines come from the registry,
and everything MLflow goes through `tracking`.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlscale import promotion, registry, rules, state, tracking
from mlscale.data import Dataset, describe_encodings, describe_source, encoding_table, input_columns, prepare
from mlscale.engines import get_engine
from mlscale.engines.base import ClusterInfo, EnginePlan, TrialResult, TuneResult
from mlscale.errors import DataError, MlscaleError, RecipeError
from mlscale.interrupts import terminated
from mlscale.masking import has_credentials, mask_secrets, mask_text
from mlscale.model import Model
from mlscale.predicting import check_output
from mlscale.promotion import Promotion
from mlscale.recipe import Recipe, load_recipe, recipe_hash, recipe_yaml
from mlscale.recipe.trust import TRUST_ENV, require_confirmed
from mlscale.reference import ReferenceResult, fit_reference, shortfall
from mlscale.scoped import restoring
from mlscale.training import evaluate, params_problem
from mlscale.versions import check_versions, version_tags

log = logging.getLogger("mlscale")


@dataclass
class RunResult:
    """What `mlscale.run` returns: numbers, the model, and where everything was logged."""

    run_id: str
    experiment: str
    tracking_uri: str
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

    @property
    def booster(self) -> Any:
        return self.model.booster


Progress = Callable[[str, Mapping[str, Any]], None]
"""Progress events for a front end (the CLI's progress bars): ("phase", {"name"}), ("phase_done",
{"name", "seconds"}), ("trial", {"done", "total", "best", "status"}), ("round", {"round", "total",
"metrics"}) while training, ("rows", {"done", "total"}) while predicting (total None when unknown).
Never required; errors in it are ignored, and it may be called from a background thread."""


class _Timer:
    def __init__(self, progress: Progress | None = None) -> None:
        self.timings: dict[str, float] = {}
        self.progress = progress

    def emit(self, kind: str, info: Mapping[str, Any]) -> None:
        if self.progress is not None:
            try:
                self.progress(kind, info)
            except Exception:  # a display problem must never fail a run
                log.debug("progress callback failed", exc_info=True)

    @contextmanager
    def phase(self, name: str) -> Any:
        started = time.perf_counter()
        self.emit("phase", {"name": name})
        try:
            yield
        finally:
            self.timings[f"time_{name}_s"] = round(time.perf_counter() - started, 4)
            self.emit("phase_done", {"name": name, "seconds": self.timings[f"time_{name}_s"]})


@restoring
def run(
    recipe: str | Path | Recipe,
    *,
    engine: str | None = None,
    profiles: Iterable[str | Path] = (),
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
    resume: bool = False,
    parent_run_id: str | None = None,
    progress: Progress | None = None,
    trust_recipe: bool = False,
) -> RunResult:
    """Run a recipe end to end and log it to MLflow. Raises MlscaleError subclasses on bad input."""
    total_started = time.perf_counter()
    source = str(recipe) if not isinstance(recipe, Recipe) else f"<recipe {recipe.name}>"
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, profiles=profiles, overrides=overrides, engine=engine)
    elif engine or overrides:
        raise MlscaleError("run(): pass engine/overrides with a recipe path, or build the Recipe yourself")
    require_confirmed(recipe, source, trust=trust_recipe)
    if recipe.predict is not None:
        check_output(recipe.predict, recipe.data, where=f"{source}: predict")
    versions = check_versions(engine=recipe.engine.name)
    uri = tracking.resolve_uri(recipe.mlflow.tracking_uri)
    tracking.check_reachable(uri)
    if recipe.mlflow.registered_model:
        registry.check_registry(uri, where=f"{source}: mlflow.registered_model")
    timer = _Timer(progress)

    with timer.phase("load"):
        data = prepare(recipe, source=source)
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

    eng = get_engine(recipe.engine)
    tracker: tracking.RunTracker | None = None
    try:
        with timer.phase("startup"):
            cluster = eng.start()
        log.info("engine %s: %s", cluster.engine, cluster.layout)
        _check_plan(eng.plan(recipe.train, recipe.tune, recipe.predict), source)
        tracker = tracking.RunTracker(uri, recipe.mlflow.experiment or recipe.name)
        tags = {
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
        previous = _interrupted_run(tracker, tags, eng.name, source) if resume else None
        run_id = previous or tracker.start(run_name=recipe.mlflow.run_name, tags=tags)
        with state.hold(run_id, eng.name, where=f"{source}: ") as state_dir:
            if previous:
                tracker.start(run_name=recipe.mlflow.run_name, tags=tags, run_id=previous)
                log.info("resuming mlflow run %s", previous)
            log.info("mlflow run %s (%s)", run_id, mask_text(uri))
            result = _run_phases(
                recipe, data, eng, tracker, cluster, timer, external_model, total_started, source, state_dir,
                resume,
            )  # fmt: skip
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


def _run_phases(
    recipe: Recipe,
    data: Dataset,
    eng: Any,
    tracker: tracking.RunTracker,
    cluster: ClusterInfo,
    timer: _Timer,
    external_model: Model | None,
    total_started: float,
    source: str,
    state_dir: Path,
    resume: bool = False,
) -> RunResult:
    tracker.log_params(recipe.model_dump(mode="json"))
    tracker.log_text(recipe_yaml(_masked(recipe)), "recipe.yaml")
    tracker.log_metrics(
        {
            "rows_train": len(data.x_train),
            "rows_valid": len(data.x_valid),
            "rows_test": len(data.x_test),
            "rows_missing_target": data.missing_target_dropped,
        }
    )
    if data.schema.categories:
        tracker.set_tags({"data.encoding": describe_encodings(data.schema)})
        tracker.log_text(json.dumps(encoding_table(data.schema), indent=2), "encoding.json")

    logged: dict[str, float] = {}

    def publish(values: Mapping[str, float]) -> None:
        """Log metrics as soon as they are known, each value once: a later failure keeps the work done."""
        new = {k: v for k, v in values.items() if logged.get(k) != v}
        if new:
            tracker.log_metrics(new)
            logged.update(new)

    with timer.phase("train"):
        trained = eng.train(data, recipe.train, progress=timer.emit if timer.progress else None)
    model, history = trained.model, trained.history
    metrics = evaluate(model, data)
    log.info("train: %d rounds, %s", trained.rounds, _fmt(metrics))
    extra: dict[str, float] = {
        "rounds": trained.rounds,
        "train_failures": trained.failures,
        "train_resumed_from_round": max(
            (p.get("resumed_from_round", 0) for p in trained.placement), default=0
        ),
    }
    if trained.placement:
        tracker.set_tags(
            {"train.placement": ";".join(f"{p.get('rank')}@{p.get('node')}" for p in trained.placement)}
        )
    tracker.set_tags({f"train.{k}": str(v) for k, v in trained.details.items()})
    if recipe.tune is not None:  # the untuned fit's scores; the run's own come after tuning
        extra.update({f"baseline_{k}": v for k, v in metrics.items()})
    publish({**extra, **(metrics if recipe.tune is None else {})})

    tune_result: TuneResult | None = None
    if recipe.tune is not None:
        done: list[TrialResult] = []
        _, tune_mode = rules.tune_objective(recipe.tune, data.schema.task)

        def on_trial(trial: TrialResult) -> None:
            tracker.log_trial(trial)
            done.append(trial)
            scored = [t.metric for t in done if t.status == "completed"]
            timer.emit(
                "trial",
                {"done": len(done), "total": recipe.tune.num_samples if recipe.tune else 0,
                 "best": rules.best_value(scored, tune_mode), "status": trial.status},
            )  # fmt: skip
            log.info(
                "trial %s: %s=%.5f (%s, %.1fs)",
                trial.trial_id,
                "metric",
                trial.metric,
                trial.status,
                trial.seconds,
            )

        if not resume:  # this run's own directory: only a crash of this very run id left anything there
            shutil.rmtree(state_dir, ignore_errors=True)
        with timer.phase("tune"):
            tune_result = eng.tune(
                data,
                recipe.train,
                recipe.tune,
                on_trial=on_trial,
                state_dir=state_dir,
                resume=resume,
            )
        model = tune_result.best_model
        metrics = evaluate(model, data)
        restored = int(tune_result.details.get("trials_restored", 0))
        extra.update(
            {
                "tune_best_metric": tune_result.best.metric,
                "tune_trials": len(tune_result.trials),
                "tune_trials_restored": restored,  # finished before an interruption (--resume)
                "tune_trials_run": len(tune_result.trials) - restored,  # run by this process
            }
        )
        publish({**metrics, **extra})
        tracker.set_tags({"tune.best_trial": tune_result.best.trial_id, "tune.metric": tune_result.metric})
        tracker.log_params({f"best.{k}": v for k, v in tune_result.best.params.items()})
        log.info(
            "tune: best %s %s=%.5f; %s",
            tune_result.best.trial_id,
            tune_result.metric,
            tune_result.best.metric,
            _fmt(metrics),
        )

    reference, quality_warning = None, None
    if recipe.evaluate.reference == "auto":
        with timer.phase("reference"):
            reference = fit_reference(
                data, max_rows=recipe.evaluate.reference_max_rows, seed=recipe.train.seed
            )
        extra["reference_rows"] = reference.rows
        extra.update(reference.logged())
        quality_warning = shortfall(data.schema.task, metrics, reference)
        if quality_warning:
            log.warning("quality: %s", quality_warning)
            tracker.set_tags({"mlscale.quality_warning": quality_warning})
        publish({**metrics, **extra, **timer.timings})

    with timer.phase("log_model"):
        model_uri = tracker.log_model(
            model,
            example=data.raw_sample,
            registered_model=recipe.mlflow.registered_model,
        )
        plots = _log_plots(tracker, model, data, history, tune_result, recipe)
    promoted = None
    if recipe.mlflow.promote is not None and recipe.mlflow.registered_model:
        with timer.phase("promote"):
            promoted = promotion.promote(
                tracker, recipe.mlflow.promote, recipe.mlflow.registered_model, data, metrics
            )
        log.info("promote: %s", promoted.summary)

    output: Path | None = None
    if recipe.predict is not None:
        with timer.phase("predict"):
            predicted = eng.predict(
                external_model or model,
                recipe.predict,
                data=data,
                where=f"{source}: predict",
                progress=timer.emit if timer.progress else None,
            )
        output = predicted.output
        extra.update(
            {
                "predict_rows": predicted.rows,
                "predict_rows_per_s": predicted.rows / max(predicted.seconds, 1e-9),
            }
        )
        for col, n in predicted.unseen_categories.items():
            log.warning("predict: %d value(s) of %r were not seen in training; predicted as missing", n, col)
            extra[f"predict_unseen_{col}"] = n
        tracker.set_tags({"predict.output": str(output)})
        if predicted.placement:
            tracker.set_tags(
                {"predict.placement": ";".join(f"{p['rows']}@{p['node']}" for p in predicted.placement)}
            )
        log.info("predict: %d rows -> %s", predicted.rows, output)

    timer.timings["time_total_s"] = round(time.perf_counter() - total_started, 4)
    extra["peak_rss_mb"] = _peak_rss_mb()
    publish({**metrics, **extra, **timer.timings})
    tracker.log_history(history)
    tracker.finish("FINISHED")
    assert tracker.run_id is not None
    return RunResult(
        run_id=tracker.run_id,
        experiment=tracker.experiment,
        tracking_uri=tracker.uri,
        metrics=metrics,
        timings=dict(timer.timings),
        model=model,
        model_uri=model_uri,
        output_path=output,
        cluster=cluster,
        recipe=recipe,
        tune=tune_result,
        plots=plots,
        run_url=tracking.run_url(tracker.uri, tracker.experiment_id, tracker.run_id),
        reference=reference,
        quality_warning=quality_warning,
        promotion=promoted,
    )


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
    """Fail before anything starts on parameters xgboost refuses (it says so only when training)."""
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
        model = tracking.load_model(p.model, tracking_uri=uri, where=f"{source}: predict.model")
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


def _log_plots(
    tracker: tracking.RunTracker,
    model: Model,
    data: Dataset,
    history: Any,
    tune_result: TuneResult | None,
    recipe: Recipe,
) -> list[Path]:
    """Plots, logged under the run's plots/: kept in a plots/ folder beside predict.output, or, for a
    recipe without predict, only in the run (their temp folder is removed once logged)."""
    if recipe.predict is not None:
        plots = _plots(model, data, history, tune_result, Path(recipe.predict.output).parent / "plots")
        for p in plots:
            tracker.log_artifact(p, "plots")
        return plots
    with tempfile.TemporaryDirectory(prefix="mlscale-plots-") as tmp:
        for p in _plots(model, data, history, tune_result, Path(tmp)):
            tracker.log_artifact(p, "plots")
    return []


def _plots(
    model: Model, data: Dataset, history: Any, tune_result: TuneResult | None, out_dir: Path
) -> list[Path]:
    x, y = (data.x_test, data.y_test) if len(data.x_test) else (data.x_valid, data.y_valid)
    from mlscale.plots import run_plots

    return run_plots(
        out_dir,
        task=model.schema.task,
        y_true=y,
        raw=model.raw_predict(x) if len(x) else np.zeros(0),
        classes=model.schema.classes,
        history=history,
        importance=model.booster.get_score(importance_type="gain"),
        trials=tune_result.trials if tune_result else None,
        tune_metric=tune_result.metric if tune_result else None,
    )


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
    progress: Progress | None = None,
    trust_recipe: bool = False,
) -> Path:
    """Batch inference only, with a model from MLflow or a directory: `mlscale predict`."""
    source = str(recipe) if not isinstance(recipe, Recipe) else f"<recipe {recipe.name}>"
    sets: dict[str, Any] = dict(overrides.items()) if isinstance(overrides, Mapping) else {}
    extra = [] if isinstance(overrides, Mapping) or overrides is None else list(overrides)
    if input is not None:
        sets["predict.input"] = input
    if output is not None:
        sets["predict.output"] = output
    sets["predict.model"] = model
    if not isinstance(recipe, Recipe):
        from mlscale.recipe.load import parse_override

        sets.update(dict(parse_override(o) for o in extra))
        recipe = load_recipe(recipe, profiles=profiles, overrides=sets, engine=engine)
    require_confirmed(recipe, source, trust=trust_recipe)
    check_versions(engine=recipe.engine.name)
    uri = tracking.resolve_uri(recipe.mlflow.tracking_uri)
    assert recipe.predict is not None
    if recipe.predict.input is None:
        raise RecipeError(f"{source}: predict.input is required for mlscale predict (give --input)")
    check_output(recipe.predict, recipe.data, where=f"{source}: predict")
    loaded = _preflight_predict(recipe, uri, source)
    assert loaded is not None
    eng = get_engine(recipe.engine)
    timer = _Timer(progress)
    try:
        with timer.phase("startup"):
            eng.start()
        with timer.phase("predict"):
            result = eng.predict(
                loaded,
                recipe.predict,
                data=None,
                where=f"{source}: predict",
                progress=timer.emit if progress else None,
            )
    finally:
        eng.stop()
    for col, n in result.unseen_categories.items():
        log.warning("predict: %d value(s) of %r were not seen in training; predicted as missing", n, col)
    log.info("predict: %d rows in %.2fs -> %s", result.rows, result.seconds, result.output)
    return result.output


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
    trust_recipe: bool = False,
) -> Plan:
    """Pre-flight: check a recipe against the data and the cluster without training anything.

    Connects to `engine.address` when the user gave or confirmed it (`--address`, `--set`, a profile,
    `trust_recipe`) to see the cluster's real resources; an address only the recipe names is not
    contacted (the plan is made for this machine and says so). Never starts a local Ray instance.
    Raises RecipeError naming the first thing that could never be scheduled.
    """
    source = str(recipe) if not isinstance(recipe, Recipe) else f"<recipe {recipe.name}>"
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, profiles=profiles, overrides=overrides, engine=engine)
    if recipe.predict is not None:
        check_output(recipe.predict, recipe.data, where=f"{source}: predict")
    check_versions(engine=recipe.engine.name)
    summary = describe_source(recipe.data, source=source)
    planned = recipe
    try:
        require_confirmed(recipe, source, trust=trust_recipe)
    except RecipeError:  # plan says what it would contact instead of contacting it
        planned = recipe.model_copy(update={"engine": recipe.engine.model_copy(update={"address": None})})
    eng = get_engine(planned.engine)
    try:
        if planned.engine.address:
            eng.start()
        engine_plan = eng.plan(recipe.train, recipe.tune, recipe.predict)
    finally:
        eng.stop()
    if planned is not recipe and recipe.engine.address:
        engine_plan.notes.append(
            f"engine.address {mask_text(recipe.engine.address)} is named by the recipe only and was not "
            "contacted: this plan is for this machine (confirm it with --address or --trust-recipe)"
        )
    _check_plan(engine_plan, source)
    uri = mask_text(tracking.resolve_uri(recipe.mlflow.tracking_uri))
    return Plan(recipe=recipe, source=source, data=summary, engine=engine_plan, tracking_uri=uri)


@dataclass
class JobResult:
    job_id: str
    status: str  # SUCCEEDED | FAILED | STOPPED | PENDING (not waited for)
    address: str


@restoring
def submit(
    recipe: str | Path | Recipe,
    *,
    address: str,
    wait: bool = True,
    engine: str | None = None,
    profiles: Iterable[str | Path] = (),
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
    python: str | None = None,
    pip: bool | None = None,
    on_log: Callable[[str], None] | None = None,
    trust_recipe: bool = False,
) -> JobResult:
    """Run a recipe as a Ray Job on a cluster (`mlscale submit`): validated here, run there.

    The job gets the resolved recipe as its working dir and this mlscale as a py_module. On a cluster on
    this machine the job runs this interpreter (no installs); elsewhere it runs `python` and, unless
    pip=False, installs mlscale's requirements in the job's runtime env.
    """
    source = str(recipe) if not isinstance(recipe, Recipe) else f"<recipe {recipe.name}>"
    if not address.startswith(("http://", "https://")):
        raise RecipeError(
            f"--address must be the Ray dashboard's http://host:port (Jobs API), got {address!r}"
        )
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, profiles=profiles, overrides=overrides, engine=engine)
    require_confirmed(recipe, source, trust=trust_recipe)
    if recipe.engine.name == "ray" and not recipe.engine.address:
        recipe = recipe.model_copy(update={"engine": recipe.engine.model_copy(update={"address": "auto"})})
    local = _is_loopback(address)
    env_vars = {"PYTHONUNBUFFERED": "1", TRUST_ENV: "1"}  # confirmed here; the job runs the resolved recipe
    if os.environ.get("RAY_AUTH_MODE"):
        env_vars["RAY_AUTH_MODE"] = os.environ["RAY_AUTH_MODE"]  # the mode only: the token stays here
    uri = recipe.mlflow.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    _check_job_uri(uri, where="mlflow.tracking_uri" if recipe.mlflow.tracking_uri else "MLFLOW_TRACKING_URI")
    if uri and recipe.mlflow.tracking_uri is None:
        env_vars["MLFLOW_TRACKING_URI"] = uri
    if not (uri or "").startswith(("http://", "https://", "databricks")):
        log.warning(
            "submit: the job logs to %s on the cluster; use an http:// tracking server "
            "(mlflow.tracking_uri or MLFLOW_TRACKING_URI) to see the run from here",
            mask_text(uri or "a sqlite file in the job's working dir"),
        )
    interpreter = python or (sys.executable if local else "python")
    requirements = _requirements() if (pip if pip is not None else not local) else None
    from mlscale.jobs import submit_job

    verbose = " --verbose" if log.isEnabledFor(logging.DEBUG) else ""
    with tempfile.TemporaryDirectory(prefix="mlscale-job-") as tmp:
        (Path(tmp) / "recipe.yaml").write_text(recipe_yaml(recipe))
        job_id, status = submit_job(
            address=address,
            entrypoint=f"{shlex.quote(interpreter)} -m mlscale._job run recipe.yaml{verbose}",
            working_dir=Path(tmp),
            env_vars=env_vars,
            pip=requirements,
            wait=wait,
            on_log=on_log or _print_log,
        )
    log.info("ray job %s (%s): %s", job_id, source, status)
    return JobResult(job_id=job_id, status=status, address=address)


def _check_job_uri(uri: str | None, *, where: str) -> None:
    """A job's env vars show in `ray job list` and its recipe is uploaded to the cluster: no credentials."""
    if uri and has_credentials(uri):
        raise RecipeError(
            f"submit: {where} {mask_text(uri)} holds credentials, which the job would carry to the cluster "
            "(its runtime env shows in `ray job list`); use the URI without them and set "
            "MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD on the cluster"
        )


def _print_log(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _is_loopback(address: str) -> bool:
    from urllib.parse import urlparse

    host = urlparse(address).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def _requirements() -> list[str]:
    """mlscale's own runtime requirements (no extras), for a job's runtime env on a remote cluster."""
    from importlib.metadata import PackageNotFoundError, requires

    try:
        reqs = requires("mlscale") or []
    except PackageNotFoundError:
        return []
    return [r.split(";")[0].strip() for r in reqs if "extra ==" not in r]


def _check_plan(engine_plan: EnginePlan, source: str) -> None:
    if engine_plan.problems:
        raise RecipeError(f"{source}: {engine_plan.problems[0]}")
    for note in engine_plan.notes:
        log.warning("plan: %s", note)


def _peak_rss_mb() -> float:
    """Peak resident memory of this process plus its finished children (a local Ray's workers)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round((own + children) / 1024, 1)


def _masked(recipe: Recipe) -> Recipe:
    return Recipe.model_validate(mask_secrets(recipe.model_dump(mode="json")))


def _fmt(metrics: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={v:.4f}" for k, v in metrics.items() if k.startswith("test_")) or ", ".join(
        f"{k}={v:.4f}" for k, v in metrics.items()
    )
