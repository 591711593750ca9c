"""The phases of one run, in order: each is `phase(ctx)`, and a new phase is one function and one line
in `PHASES`. Timings, progress and metrics go through the `RunContext` (see `mlscale.workflow.context`).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mlscale.assess.reference import fit_reference, shortfall
from mlscale.data import Dataset, column_types, describe_encodings, encoding_table
from mlscale.engines.base import Elastic
from mlscale.modeling.model import Model
from mlscale.modeling.training import evaluate
from mlscale.recipe import Recipe, recipe_yaml
from mlscale.recipe.schema import TuneConfig
from mlscale.report.build import write_run_report
from mlscale.results import TrialResult, TuneResult
from mlscale.scoring.paths import plots_dir
from mlscale.tracking import promotion
from mlscale.tuning import objective as rules
from mlscale.util.masking import mask_secrets
from mlscale.workflow.assessment import assess
from mlscale.workflow.context import RunContext

log = logging.getLogger("mlscale")


def log_inputs(ctx: RunContext) -> None:
    """The recipe (secrets masked), the split's row counts, the categorical encodings and the leak
    suspects (features that alone predict the target)."""
    recipe, data, tracker = ctx.recipe, ctx.data, ctx.tracker
    tracker.log_params(recipe.model_dump(mode="json"))
    tracker.log_text(recipe_yaml(_masked(recipe)), "recipe.yaml")
    tracker.log_metrics(
        {
            "rows_train": data.n_train,
            "rows_valid": len(data.x_valid),
            "rows_test": len(data.x_test),
            "rows_missing_target": data.missing_target_dropped,
        }
    )
    if data.schema.categories:
        tracker.set_tags({"data.encoding": describe_encodings(data.schema)})
    if data.schema.derived:
        tracker.set_tags({"data.column_types": column_types.describe(data.schema.derived)})
    if data.schema.categories or data.schema.derived:
        tracker.log_text(json.dumps(encoding_table(data.schema), indent=2), "encoding.json")
    if data.leak_suspects:
        tracker.set_tags({"data.leak_suspects": ", ".join(s.short for s in data.leak_suspects)})


def scale(ctx: RunContext) -> None:
    """On a cluster that grows for the run: ask its autoscaler for the nodes the plan needs and wait for
    them, timed on its own (`time_scale_s`), so that the wait is not counted as training."""
    engine = ctx.engine
    if not isinstance(engine, Elastic) or not engine.nodes_wanted():
        return
    with ctx.timer.phase("scale"):
        engine.scale_up(progress=ctx.timer.on_progress)
    ctx.publish(ctx.timer.timings)


def train(ctx: RunContext) -> None:
    """One model with the recipe's parameters; with tuning, its scores are logged as baseline_*."""
    recipe, data, tracker = ctx.recipe, ctx.data, ctx.tracker
    with ctx.timer.phase("train"):
        trained = ctx.engine.train(data, recipe.train, progress=ctx.timer.on_progress)
    ctx.trained_model, ctx.history = trained.model, trained.history
    metrics = evaluate(trained.model, data)
    ctx.metrics = metrics
    log.info("train: %d rounds, %s", trained.rounds, _fmt(metrics))
    extra: dict[str, float] = {
        "rounds": trained.rounds,
        "train_failures": trained.failures,
        "train_resumed_from_round": trained.resumed_from_round,
    }
    if trained.placement:
        tracker.set_tags({"train.placement": ";".join(f"{p.rank}@{p.node}" for p in trained.placement)})
    tracker.set_tags({f"train.{k}": str(v) for k, v in trained.details.items()})
    if recipe.tune is not None:  # the untuned fit's scores; the run's own come after tuning
        extra.update({f"baseline_{k}": v for k, v in metrics.items()})
    ctx.publish({**extra, **(metrics if recipe.tune is None else {})})


def tune(ctx: RunContext) -> None:
    """Search tune.space (when the recipe has a tune section); the best trial's model becomes the run's."""
    recipe, data, tracker = ctx.recipe, ctx.data, ctx.tracker
    if recipe.tune is None:
        return
    if not ctx.resume:  # this run's own directory: only a crash of this very run id left anything there
        shutil.rmtree(ctx.state_dir, ignore_errors=True)
    with ctx.timer.phase("tune"):
        tune_result = ctx.engine.tune(
            data,
            recipe.train,
            recipe.tune,
            on_trial=_trial_logger(ctx, recipe.tune),
            state_dir=ctx.state_dir,
            resume=ctx.resume,
        )
    ctx.tune_result = tune_result
    ctx.trained_model = tune_result.best_model
    ctx.metrics = metrics = evaluate(tune_result.best_model, data)
    restored = tune_result.trials_restored
    ctx.publish(
        {
            **metrics,
            "tune_best_metric": tune_result.best.metric,
            "tune_trials": len(tune_result.trials),
            "tune_trials_restored": restored,  # finished before an interruption (--resume)
            "tune_trials_run": len(tune_result.trials) - restored,  # run by this process
        }
    )
    tracker.set_tags({"tune.best_trial": tune_result.best.trial_id, "tune.metric": tune_result.metric})
    tracker.log_params({f"best.{k}": v for k, v in tune_result.best.params.items()})
    log.info(
        "tune: best %s %s=%.5f; %s",
        tune_result.best.trial_id,
        tune_result.metric,
        tune_result.best.metric,
        _fmt(metrics),
    )


def _trial_logger(ctx: RunContext, tune_config: TuneConfig) -> Callable[[TrialResult], None]:
    """What the engine calls once per finished trial: log it as a child run, report progress."""
    total = tune_config.num_samples
    metric_name, tune_mode = rules.tune_objective(tune_config, ctx.data.schema.task)
    done: list[TrialResult] = []

    def on_trial(trial: TrialResult) -> None:
        ctx.tracker.log_trial(trial)
        done.append(trial)
        scored = [t.metric for t in done if t.status == "completed"]
        ctx.timer.emit(
            "trial",
            {
                "done": len(done),
                "total": total,
                "best": rules.best_value(scored, tune_mode),
                "status": trial.status,
            },
        )
        log.info(
            "trial %s: %s=%.5f (%s, %.1fs)",
            trial.trial_id,
            metric_name,
            trial.metric,
            trial.status,
            trial.seconds,
        )

    return on_trial


def reference(ctx: RunContext) -> None:
    """A simple reference model's scores (evaluate.reference: auto); a clear shortfall is a warning."""
    recipe, data = ctx.recipe, ctx.data
    if recipe.evaluate.reference != "auto":
        return
    with ctx.timer.phase("reference"):
        ref = fit_reference(data, max_rows=recipe.evaluate.reference_max_rows, seed=recipe.train.seed)
    ctx.reference = ref
    ctx.quality_warning = shortfall(data.schema.task, ctx.metrics, ref)
    if ctx.quality_warning:
        log.warning("quality: %s", ctx.quality_warning)
        ctx.tracker.set_tags({"mlscale.quality_warning": ctx.quality_warning})
    ctx.publish({**ctx.metrics, "reference_rows": ref.rows, **ref.logged(), **ctx.timer.timings})


def log_model(ctx: RunContext) -> None:
    """The model (registered when mlflow.registered_model is set) and the plots."""
    with ctx.timer.phase("log_model"):
        ctx.model_uri = ctx.tracker.log_model(
            ctx.model,
            example=ctx.data.raw_sample,
            registered_model=ctx.recipe.mlflow.registered_model,
        )
        ctx.plots = _log_plots(ctx)


def predict(ctx: RunContext) -> None:
    """Batch predictions (when the recipe has a predict section), with predict.model when given."""
    recipe, tracker = ctx.recipe, ctx.tracker
    if recipe.predict is None:
        return
    with ctx.timer.phase("predict"):
        predicted = ctx.engine.predict(
            ctx.external_model or ctx.model,
            recipe.predict,
            data=ctx.data,
            where=f"{ctx.source}: predict",
            progress=ctx.timer.on_progress,
        )
    ctx.output = predicted.output
    extra: dict[str, float] = {
        "predict_rows": predicted.rows,
        "predict_rows_per_s": predicted.rows / max(predicted.seconds, 1e-9),
    }
    for col, n in predicted.unseen_categories.items():
        log.warning("predict: %d value(s) of %r were not seen in training; predicted as missing", n, col)
        extra[f"predict_unseen_{col}"] = n
    ctx.publish(extra)
    tracker.set_tags({"predict.output": str(predicted.output)})
    if predicted.placement:
        tracker.set_tags({"predict.placement": ";".join(f"{p.rows}@{p.node}" for p in predicted.placement)})
    log.info("predict: %d rows -> %s", predicted.rows, predicted.output)


def promote_model(ctx: RunContext) -> None:
    """mlflow.promote: this run's registered version becomes the alias's holder only if it beats the
    current one, re-scored on this run's test split; otherwise the challenger alias."""
    recipe = ctx.recipe
    if recipe.mlflow.promote is None or not recipe.mlflow.registered_model:
        return
    with ctx.timer.phase("promote"):
        ctx.promotion = promotion.promote(
            ctx.tracker, recipe.mlflow.promote, recipe.mlflow.registered_model, ctx.data, ctx.metrics
        )
    log.info("promote: %s", ctx.promotion.summary)


def assess_model(ctx: RunContext) -> None:
    """Evaluation and explanations of the run's model on the test split, logged as the report's
    evaluation and explanations sections and their metrics."""
    with ctx.timer.phase("evaluate"):
        assess(ctx.recipe, ctx.data, ctx.model, ctx.engine, ctx.tracker, reference=ctx.reference)


def finish(ctx: RunContext) -> None:
    """The last metrics (total time, peak memory), the per-round history, and the run marked FINISHED."""
    ctx.timer.timings["time_total_s"] = round(time.perf_counter() - ctx.total_started, 4)
    ctx.publish({**ctx.metrics, "peak_rss_mb": _peak_rss_mb(), **ctx.timer.timings})
    ctx.tracker.log_history(ctx.history)
    ctx.report = write_run_report(ctx.tracker, ctx.recipe, ctx.data)
    ctx.tracker.finish("FINISHED")


Phase = Callable[[RunContext], None]

PHASES: tuple[Phase, ...] = (
    log_inputs,
    scale,
    train,
    tune,
    reference,
    assess_model,
    log_model,
    promote_model,
    predict,
    finish,
)
"""Every run's phases, in order; a phase the recipe does not ask for returns at once."""


def _log_plots(ctx: RunContext) -> list[Path]:
    """Plots, logged under the run's plots/: kept in a plots/ folder beside predict.output, or, for a
    recipe without predict, only in the run (their temp folder is removed once logged)."""
    recipe, tracker = ctx.recipe, ctx.tracker
    if not recipe.evaluate.plots:
        return []
    if recipe.predict is not None:
        plots = _plots(ctx.model, ctx.data, ctx.history, ctx.tune_result, plots_dir(recipe.predict))
        for p in plots:
            tracker.log_artifact(p, "plots")
        return plots
    with tempfile.TemporaryDirectory(prefix="mlscale-plots-") as tmp:
        for p in _plots(ctx.model, ctx.data, ctx.history, ctx.tune_result, Path(tmp)):
            tracker.log_artifact(p, "plots")
    return []


def _plots(
    model: Model, data: Dataset, history: Any, tune_result: TuneResult | None, out_dir: Path
) -> list[Path]:
    x, y = (data.x_test, data.y_test) if len(data.x_test) else (data.x_valid, data.y_valid)
    from mlscale.report.plots import run_plots

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
