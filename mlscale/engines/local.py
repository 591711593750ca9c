"""Engine `local`: plain xgboost in this process, Optuna for tuning, pyarrow streaming for inference."""

from __future__ import annotations

import contextlib
import logging
import os
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
    TuneResult,
)
from mlscale.modeling.external_memory import train_matrices
from mlscale.modeling.model import Model
from mlscale.modeling.training import (
    TRAIN_CURVE_MAX_ROWS,
    cuda_problem,
    fit,
    round_callback,
    xgb_params,
)
from mlscale.recipe.schema import EngineConfig, PredictConfig, TrainConfig, TuneConfig
from mlscale.scoring.predict import explain_in_process, predict_in_process
from mlscale.tuning import objective as rules
from mlscale.tuning import optuna_trials
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
        study = optuna_trials.open_study(tune, mode, state_dir, resume)
        trials, models = optuna_trials.restored_trials(study, state_dir, on_trial)
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
            sampled = {name: optuna_trials.suggest(trial, name, dim) for name, dim in tune.space.items()}
            params = xgb_params(train, data.schema, nthread=self.nthread, overrides=sampled, device=device)
            own = train_matrices(data, nthread=self.nthread, max_bin=int(params["max_bin"]))
            with contextlib.nullcontext(shared) if shared else own as pair:
                result = optuna_trials.run_trial(
                    trial, data, train, tune, params, sampled, pair, stop_cb, metric
                )
            optuna_trials.remember(trial, result, state_dir)
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
                stop_cb = optuna_trials.stop_callback(stop.event)

                def guarded(trial: optuna.Trial) -> float:
                    if stop.event.is_set():
                        raise optuna_trials.Interrupted()
                    return objective(trial, stop_cb)

                try:
                    study.optimize(guarded, n_trials=missing, gc_after_trial=False)
                except optuna_trials.Interrupted:
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


if TYPE_CHECKING:  # mypy checks the engine against the protocol here; nothing runs

    def _conforms(config: EngineConfig) -> Engine:
        return LocalEngine(config)
