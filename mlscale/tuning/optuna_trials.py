"""The Optuna machinery every engine that drives Optuna trials shares: the study (seeded sampler, ASHA as
Optuna's successive halving, kept in sqlite for `--resume`), the recipe's search space in Optuna's terms
(Ray Tune's semantics: randint excludes its high end), one trial's fit and score, what a finished trial
records for `--resume`, and the trials a resumed study already holds.

Call order in an engine: `open_study` -> `restored_trials` (report what is done) -> for each missing trial
`suggest` each dimension -> `run_trial` (stopped by `stop_callback` or the pruner) -> `remember` -> report.
An engine whose trials fit elsewhere (dask's workers) asks and tells itself, reports only at `rung_steps`,
and turns each fit it gets back (`FittedTrial`) into the same TrialResult with `scored`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlscale.data import Dataset
from mlscale.modeling.model import Model
from mlscale.modeling.training import evaluate, fit_trial, quantize, round_metric
from mlscale.recipe.schema import SearchDim, TrainConfig, TuneConfig
from mlscale.results import OnTrial, TrialResult


def run_trial(
    trial: Any,
    data: Dataset,
    train: TrainConfig,
    tune: TuneConfig,
    params: dict[str, Any],
    sampled: dict[str, Any],
    matrices: tuple[Any, Any],
    stop_cb: Any,
    metric: str,
) -> TrialResult:
    """Fit one trial (stopped early by the pruner or an interrupt) and score it on `metric`."""
    dtrain, dvalid = matrices
    started = time.perf_counter()
    callbacks = [stop_cb, *([prune_callback(trial, metric)] if tune.scheduler == "asha" else [])]
    pruned = False
    try:
        booster, history, rounds = fit_trial(params, dtrain, dvalid, train, callbacks)
    except _Pruned as stop:
        booster, history, rounds, pruned = stop.booster, {}, stop.rounds, True
    fitted = FittedTrial(trial.number, booster, history, rounds, pruned, time.perf_counter() - started)
    return scored(fitted, data, sampled, metric)


@dataclass(frozen=True)
class FittedTrial:
    """One trial's fit, wherever it ran: the booster (cut at the pruning round when `pruned`), the per-round
    history (empty when pruned) and the rounds it ran."""

    number: int
    booster: Any
    history: dict[str, dict[str, list[float]]]
    rounds: int
    pruned: bool
    seconds: float


def scored(fitted: FittedTrial, data: Dataset, sampled: dict[str, Any], metric: str) -> TrialResult:
    """A fitted trial scored the same way for every engine: valid_* and test_* metrics, the tune metric."""
    model = Model(fitted.booster, data.schema, info={"rounds": fitted.rounds, "params": sampled})
    metrics = evaluate(model, data)
    history = fitted.history
    value = metrics[metric] if metric in metrics else (round_metric(history, metric) or [float("nan")])[-1]
    return TrialResult(
        trial_id=f"trial_{fitted.number:03d}",
        number=fitted.number,
        params=sampled,
        metric=float(value),
        metrics=metrics,
        seconds=fitted.seconds,
        rounds=fitted.rounds,
        status="pruned" if fitted.pruned else "completed",
        model=model,
    )


def remember(trial: Any, result: TrialResult, state_dir: Path) -> None:
    """What `--resume` needs of a finished trial: its scores in the study, its model in `state_dir`."""
    trial.set_user_attr("metrics", result.metrics)
    trial.set_user_attr("seconds", result.seconds)
    trial.set_user_attr("rounds", result.rounds)
    trial.set_user_attr("status", result.status)
    if result.status != "pruned" and result.model is not None:
        result.model.save(state_dir / result.trial_id)
    trial.set_user_attr("value", result.metric)  # recorded before logging: a kill after it is resumable


REDUCTION = 3  # successive halving keeps the best third of the trials at each rung


def rung_steps(tune: TuneConfig, num_boost_round: int) -> tuple[int, ...]:
    """The rounds at which the successive-halving pruner decides (grace_period x 3^k, up to the last round):
    the only reports it needs, for an engine whose trials report from afar."""
    steps, step = [], tune.grace_period
    while step <= num_boost_round:
        steps.append(step)
        step *= REDUCTION
    return tuple(steps)


def open_study(tune: TuneConfig, mode: str, state_dir: Path, resume: bool) -> Any:
    """The Optuna study, kept in `state_dir`'s sqlite file (loaded again on resume)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = (
        optuna.samplers.TPESampler(seed=tune.seed, n_startup_trials=min(10, max(2, tune.num_samples // 3)))
        if tune.algorithm == "tpe"
        else optuna.samplers.RandomSampler(seed=tune.seed)
    )
    pruner: optuna.pruners.BasePruner = (
        optuna.pruners.SuccessiveHalvingPruner(min_resource=tune.grace_period, reduction_factor=REDUCTION)
        if tune.scheduler == "asha"
        else optuna.pruners.NopPruner()
    )
    state_dir.mkdir(parents=True, exist_ok=True)
    return optuna.create_study(
        study_name="mlscale",
        storage=f"sqlite:///{state_dir / 'optuna.db'}",
        load_if_exists=resume,
        direction="maximize" if mode == "max" else "minimize",
        sampler=sampler,
        pruner=pruner,
    )


def restored_trials(
    study: Any, state_dir: Path, on_trial: OnTrial
) -> tuple[list[TrialResult], dict[int, Model]]:
    """A resumed study's finished trials, reported again (`on_trial`); trials cut off are retired."""
    import optuna

    trials: list[TrialResult] = []
    models: dict[int, Model] = {}
    for old in study.trials:  # a resumed study: report what is done, retire what was cut off
        if old.state == optuna.trial.TrialState.RUNNING:
            # Cut off by the kill: finished (and maybe logged) if it recorded its value, else lost.
            finished = "value" in old.user_attrs
            state = optuna.trial.TrialState.FAIL
            if finished:
                pruned_old = old.user_attrs.get("status") == "pruned"
                state = optuna.trial.TrialState.PRUNED if pruned_old else optuna.trial.TrialState.COMPLETE
            values = None if state != optuna.trial.TrialState.COMPLETE else [old.user_attrs["value"]]
            study._storage.set_trial_state_values(old._trial_id, state, values)
            if not finished:
                continue
            old = study._storage.get_trial(old._trial_id)
        if old.state not in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED):
            continue
        saved = state_dir / f"trial_{old.number:03d}"
        model = Model.load_saved(saved)
        done = TrialResult(
            trial_id=f"trial_{old.number:03d}",
            number=old.number,
            params=dict(old.params),
            metric=float(old.value if old.value is not None else float("nan")),
            metrics=dict(old.user_attrs.get("metrics", {})),
            seconds=float(old.user_attrs.get("seconds", 0.0)),
            rounds=int(old.user_attrs.get("rounds", 0)),
            status="completed" if old.state == optuna.trial.TrialState.COMPLETE else "pruned",
            model=model,
        )
        trials.append(done)
        if model is not None and done.status == "completed":
            models[old.number] = model
        on_trial(done)
    return trials, models


def suggest(trial: Any, name: str, dim: SearchDim) -> Any:
    """Recipe search space -> Optuna, with Ray Tune's semantics (randint excludes high)."""
    if dim.kind == "choice":
        return trial.suggest_categorical(name, dim.values)
    low, high = float(dim.low or 0), float(dim.high or 0)
    if dim.kind == "randint":
        return trial.suggest_int(name, int(low), int(high) - 1)
    if dim.kind == "loguniform":
        return trial.suggest_float(name, low, high, log=True)
    if dim.kind == "quniform":
        return quantize(trial.suggest_float(name, low, high), float(dim.q or 1))
    return trial.suggest_float(name, low, high)


class Interrupted(Exception):
    """Ctrl-C or SIGTERM, raised where Optuna can record it (a KeyboardInterrupt inside Optuna's own bookkeeping
    surfaced as an UnboundLocalError, measured with optuna 5.0)."""


def _make_stop_callback() -> type:
    import xgboost as xgb

    class StopCallback(xgb.callback.TrainingCallback):
        def __init__(self, interrupted: threading.Event) -> None:
            self.interrupted = interrupted

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            if self.interrupted.is_set():
                raise Interrupted()
            return False

    return StopCallback


class _Pruned(Exception):
    def __init__(self, booster: Any, rounds: int) -> None:
        self.booster, self.rounds = booster, rounds


def _make_prune_callback() -> type:
    import xgboost as xgb

    class PruneCallback(xgb.callback.TrainingCallback):
        """Report the per-round valid metric to Optuna; stop the trial when its pruner says so."""

        def __init__(self, trial: Any, metric: str) -> None:
            self.trial = trial
            self.base = metric.removeprefix("valid_")

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            values = evals_log.get("valid", {}).get(self.base)
            if not values:
                return False
            self.trial.report(float(values[-1]), step=epoch + 1)
            if self.trial.should_prune():
                raise _Pruned(model, epoch + 1)
            return False

    return PruneCallback


def prune_callback(trial: Any, metric: str) -> Any:
    return _make_prune_callback()(trial, metric)


def stop_callback(event: threading.Event) -> Any:
    """An xgboost callback raising Interrupted at the next round once `event` is set."""
    return _make_stop_callback()(event)
