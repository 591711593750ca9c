"""Engine `local`: plain xgboost in this process, Optuna for tuning, pyarrow streaming for inference."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlscale.data import Dataset
from mlscale.engines.base import (
    ClusterInfo,
    Engine,
    EnginePlan,
    ExplainResult,
    OnProgress,
    OnTrial,
    Placement,
    PredictResult,
    TrainResult,
    TrialResult,
    TuneResult,
)
from mlscale.modeling.external_memory import train_matrices
from mlscale.modeling.model import Model
from mlscale.modeling.training import (
    TRAIN_CURVE_MAX_ROWS,
    cuda_problem,
    evaluate,
    fit,
    fit_trial,
    quantize,
    round_callback,
    round_metric,
    xgb_params,
)
from mlscale.recipe.schema import EngineConfig, PredictConfig, SearchDim, TrainConfig, TuneConfig
from mlscale.scoring.predict import explain_in_process, predict_in_process
from mlscale.tuning import objective as rules
from mlscale.util.interrupts import stop_requested

log = logging.getLogger("mlscale")


class LocalEngine:
    name = "local"

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.nthread = os.cpu_count() or 1

    def start(self) -> ClusterInfo:
        return ClusterInfo(
            engine="local",
            nodes=1,
            cpus=float(self.nthread),
            gpus=0,
            layout=f"1 process x {self.nthread} threads",
        )

    def stop(self) -> None:
        return None

    def plan(self, train: TrainConfig, tune: TuneConfig | None, predict: PredictConfig | None) -> EnginePlan:
        plan = EnginePlan()
        device = "cuda" if self.config.gpus_per_worker else "cpu"
        plan.steps.append(("train", f"1 process x {self.nthread} xgboost threads on {device}"))
        if self.config.gpus_per_worker:
            problem = cuda_problem()
            if problem:
                plan.problems.append(f"engine.gpus_per_worker={self.config.gpus_per_worker:g}: {problem}")
        if self.config.workers > 1:
            plan.notes.append("engine local runs in this process: engine.workers is ignored")
        if tune is not None:
            pruning = (
                f", pruned by successive halving after {tune.grace_period} rounds"
                if tune.scheduler == "asha"
                else ""
            )
            plan.steps.append(
                ("tune", f"{tune.num_samples} trials, one at a time ({tune.algorithm}{pruning})")
            )
        if predict is not None:
            plan.steps.append(("predict", f"streamed in batches of {predict.batch_size} rows, one process"))
        return plan

    # -- train -------------------------------------------------------------------------
    def train(self, data: Dataset, train: TrainConfig, *, progress: OnProgress | None = None) -> TrainResult:
        device = "cuda" if self.config.gpus_per_worker else None
        params = xgb_params(train, data.schema, nthread=self.nthread, device=device)
        callbacks = []
        if progress is not None:
            total = train.num_boost_round
            callbacks.append(
                round_callback(lambda r, m: progress("round", {"round": r, "total": total, "metrics": m}))
            )
        with train_matrices(data, nthread=self.nthread, max_bin=int(params["max_bin"])) as (dtrain, dvalid):
            booster, history, rounds = fit(
                params,
                dtrain,
                dvalid,
                num_boost_round=train.num_boost_round,
                early_stopping_rounds=train.early_stopping_rounds,
                with_train_curve=data.n_train <= TRAIN_CURVE_MAX_ROWS,
                callbacks=callbacks,
            )
        model = Model(
            booster, data.schema, info={"rounds": rounds, "best_rounds": booster.num_boosted_rounds()}
        )
        return TrainResult(
            model=model,
            history=history,
            rounds=rounds,
            placement=[Placement(rank=0, node="local", pid=os.getpid())],
        )

    # -- tune --------------------------------------------------------------------------
    def tune(
        self,
        data: Dataset,
        train: TrainConfig,
        tune: TuneConfig,
        *,
        on_trial: OnTrial,
        state_dir: Path,
        resume: bool = False,
    ) -> TuneResult:
        """Optuna study kept in `state_dir` (sqlite + trial models) so `--resume` runs only missing trials."""
        import optuna

        metric, mode = rules.tune_objective(tune, data.schema.task)
        study = _study(tune, mode, state_dir, resume)
        trials, models = _restored_trials(study, state_dir, on_trial)
        restored = len(trials)
        missing = max(0, tune.num_samples - len(trials))
        if resume:
            log.info("tune: resuming, %d trial(s) done, %d to run", len(trials), missing)
        device = "cuda" if self.config.gpus_per_worker else None
        base_params = xgb_params(train, data.schema, nthread=self.nthread, device=device)
        matrices = contextlib.ExitStack()  # one pair for every trial unless max_bin is tuned
        shared = (
            None
            if "max_bin" in tune.space or not missing
            else matrices.enter_context(
                train_matrices(data, nthread=self.nthread, max_bin=base_params["max_bin"])
            )
        )

        def objective(trial: optuna.Trial, stop_cb: Any) -> float:
            sampled = {name: _suggest(trial, name, dim) for name, dim in tune.space.items()}
            params = xgb_params(train, data.schema, nthread=self.nthread, overrides=sampled, device=device)
            own = train_matrices(data, nthread=self.nthread, max_bin=int(params["max_bin"]))
            with contextlib.nullcontext(shared) if shared else own as pair:
                result = _run_trial(trial, data, train, tune, params, sampled, pair, stop_cb, metric)
            _remember(trial, result, state_dir)
            model, pruned = result.model, result.status == "pruned"
            trials.append(result)
            on_trial(result)
            if pruned:
                raise optuna.TrialPruned()
            if model is not None:
                models[trial.number] = model
            return result.metric

        with matrices, stop_requested() as stop:
            if missing:
                stop_cb = _make_stop_callback()(stop.event)

                def guarded(trial: optuna.Trial) -> float:
                    if stop.event.is_set():
                        raise _Interrupted()
                    return objective(trial, stop_cb)

                try:
                    study.optimize(guarded, n_trials=missing, gc_after_trial=False)
                except _Interrupted:
                    raise stop.interrupt() from None
        best = rules.best_trial(trials, mode, engine="local")
        return TuneResult(
            trials=trials,
            best=best,
            best_model=models[best.number],
            metric=metric,
            mode=mode,
            trials_restored=restored,
            details={"state_dir": str(state_dir)},
        )

    # -- predict -----------------------------------------------------------------------
    def predict(
        self,
        model: Model,
        predict: PredictConfig,
        *,
        data: Dataset | None,
        where: str,
        progress: OnProgress | None = None,
    ) -> PredictResult:
        test_frame = None if data is None else data.test_frame
        return predict_in_process(model, predict, test_frame=test_frame, where=where, progress=progress)

    def explain(self, model: Model, x: pd.DataFrame) -> ExplainResult:
        """SHAP contributions in this process, with all of its threads."""
        return explain_in_process(model, x, nthread=self.nthread)


def _run_trial(
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
    callbacks = [stop_cb, *([_PruneCallback(trial, metric)] if tune.scheduler == "asha" else [])]
    pruned = False
    try:
        booster, history, rounds = fit_trial(params, dtrain, dvalid, train, callbacks)
    except _Pruned as stop:
        booster, history, rounds, pruned = stop.booster, {}, stop.rounds, True
    model = Model(booster, data.schema, info={"rounds": rounds, "params": sampled})
    metrics = evaluate(model, data)
    value = metrics[metric] if metric in metrics else (round_metric(history, metric) or [float("nan")])[-1]
    return TrialResult(
        trial_id=f"trial_{trial.number:03d}",
        number=trial.number,
        params=sampled,
        metric=float(value),
        metrics=metrics,
        seconds=time.perf_counter() - started,
        rounds=rounds,
        status="pruned" if pruned else "completed",
        model=model,
    )


def _remember(trial: Any, result: TrialResult, state_dir: Path) -> None:
    """What `--resume` needs of a finished trial: its scores in the study, its model in `state_dir`."""
    trial.set_user_attr("metrics", result.metrics)
    trial.set_user_attr("seconds", result.seconds)
    trial.set_user_attr("rounds", result.rounds)
    trial.set_user_attr("status", result.status)
    if result.status != "pruned" and result.model is not None:
        result.model.save(state_dir / result.trial_id)
    trial.set_user_attr("value", result.metric)  # recorded before logging: a kill after it is resumable


def _study(tune: TuneConfig, mode: str, state_dir: Path, resume: bool) -> Any:
    """The Optuna study, kept in `state_dir`'s sqlite file (loaded again on resume)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = (
        optuna.samplers.TPESampler(seed=tune.seed, n_startup_trials=min(10, max(2, tune.num_samples // 3)))
        if tune.algorithm == "tpe"
        else optuna.samplers.RandomSampler(seed=tune.seed)
    )
    pruner: optuna.pruners.BasePruner = (
        optuna.pruners.SuccessiveHalvingPruner(min_resource=tune.grace_period, reduction_factor=3)
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


def _restored_trials(
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


def _suggest(trial: Any, name: str, dim: SearchDim) -> Any:
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


class _Interrupted(Exception):
    """Ctrl-C or SIGTERM, raised where Optuna can record it (a KeyboardInterrupt inside Optuna's own bookkeeping
    surfaced as an UnboundLocalError, measured with optuna 5.0)."""


def _make_stop_callback() -> type:
    import xgboost as xgb

    class StopCallback(xgb.callback.TrainingCallback):
        def __init__(self, interrupted: threading.Event) -> None:
            self.interrupted = interrupted

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            if self.interrupted.is_set():
                raise _Interrupted()
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


def _PruneCallback(trial: Any, metric: str) -> Any:
    return _make_prune_callback()(trial, metric)


if TYPE_CHECKING:  # mypy checks the engine against the protocol here; nothing runs

    def _conforms(config: EngineConfig) -> Engine:
        return LocalEngine(config)
