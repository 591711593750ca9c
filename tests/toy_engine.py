"""A test-only third engine: what a new engine (Dask, say) must implement, and nothing more.

Plain xgboost in this process with one thread; random search for tuning; predictions streamed like the
local engine. It is registered by tests/unit/test_engine_contract.py and tests/conformance/ and run through the unchanged
runner, tracking and CLI.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pandas as pd

from mlscale.data import Dataset
from mlscale.engines.base import (
    ClusterInfo,
    EnginePlan,
    ExplainResult,
    OnProgress,
    OnTrial,
    PredictResult,
    TrainResult,
    TrialResult,
    TuneResult,
)
from mlscale.modeling.metrics import compute, prefixed
from mlscale.modeling.model import Model
from mlscale.modeling.training import dmatrices, fit, xgb_params
from mlscale.recipe.schema import EngineConfig, PredictConfig, SearchDim, TrainConfig, TuneConfig
from mlscale.scoring.predict import explain_in_process, predict_in_process
from mlscale.tuning import objective as rules


class ToyEngine:
    name = "toy"

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.calls: list[str] = []

    def start(self) -> ClusterInfo:
        return ClusterInfo(engine=self.name, nodes=1, cpus=1, layout="xgboost in the driver, 1 thread")

    def plan(self, train: TrainConfig, tune: TuneConfig | None, predict: PredictConfig | None) -> EnginePlan:
        return EnginePlan(steps=[("train", "xgboost.train in this process, 1 thread")])

    def train(self, data: Dataset, train: TrainConfig, *, progress: OnProgress | None = None) -> TrainResult:
        return self._fit(data, train, {})

    def _fit(self, data: Dataset, train: TrainConfig, overrides: dict[str, Any]) -> TrainResult:
        dtrain, dvalid = dmatrices(data, nthread=1, max_bin=train.max_bin)
        booster, history, rounds = fit(
            xgb_params(train, data.schema, nthread=1, overrides=overrides),
            dtrain,
            dvalid,
            num_boost_round=train.num_boost_round,
            early_stopping_rounds=train.early_stopping_rounds,
        )
        return TrainResult(
            model=Model(booster, data.schema, info={"rounds": rounds}), history=history, rounds=rounds
        )

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
        metric, mode = rules.tune_objective(tune, data.schema.task)
        rng = random.Random(tune.seed)
        trials = []
        for number in range(tune.num_samples):
            params = {name: _sample(dim, rng) for name, dim in tune.space.items()}
            started = time.perf_counter()
            result = self._fit(data, train, params)
            scores = prefixed(
                "valid", compute(data.schema.task, data.y_valid, result.model.raw_predict(data.x_valid))
            )
            trial = TrialResult(
                trial_id=f"trial_{number:03d}", number=number, params=params, metric=scores[metric],
                metrics=scores, seconds=time.perf_counter() - started, rounds=result.rounds, model=result.model,
            )  # fmt: skip
            on_trial(trial)
            trials.append(trial)
        best = rules.best_trial(trials, mode, engine=self.name)
        assert best.model is not None
        return TuneResult(trials=trials, best=best, best_model=best.model, metric=metric, mode=mode)

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
        self.calls.append("explain")
        return explain_in_process(model, x, nthread=1)

    def stop(self) -> None:
        return None


def _sample(dim: SearchDim, rng: random.Random) -> Any:
    if dim.kind == "choice":
        return rng.choice(list(dim.values or []))
    low, high = float(dim.low or 0), float(dim.high or 0)
    if dim.kind == "randint":
        return rng.randrange(int(low), int(high))
    return low + (high - low) * rng.random()
