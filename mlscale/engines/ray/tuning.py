"""Tuning with Ray Tune: plain function trials (no Train start-up per trial), data shared once through the
object store, ASHA on per-round metrics, resumable with Tuner.restore."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import ray
import xgboost as xgb
from ray import tune as rtune
from ray.train import Result
from ray.tune import Callback, ResultGrid
from ray.tune.schedulers import ASHAScheduler, TrialScheduler
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter, Searcher
from ray.tune.search.optuna import OptunaSearch

from mlscale.data import Dataset, FeatureSchema
from mlscale.engines.ray.layout import TrialLayout
from mlscale.errors import EngineError
from mlscale.modeling import external_memory as extmem
from mlscale.modeling.metrics import compute, prefixed
from mlscale.modeling.model import Model
from mlscale.modeling.training import evaluate, fit_trial, quantile_pair, quantize, xgb_params
from mlscale.recipe.schema import SearchDim, TrainConfig, TuneConfig
from mlscale.results import OnTrial, TrialResult, TuneResult
from mlscale.tuning import objective as rules
from mlscale.util.text import first_line, plain

log = logging.getLogger("mlscale")


@ray.remote
class ModelStore:
    """Trial models by trial id: lives beside the driver, so trials need no shared storage."""

    def __init__(self) -> None:
        self.models: dict[str, bytes] = {}

    def put(self, key: str, raw: bytes) -> None:
        """Keep a trial's model."""
        self.models[key] = raw

    def get(self, key: str) -> bytes | None:
        """A trial's model, None when it never finished."""
        return self.models.get(key)


def run_tune(
    data: Dataset,
    train: TrainConfig,
    tune: TuneConfig,
    layout: TrialLayout,
    *,
    on_trial: OnTrial,
    state_dir: Path,
    resume: bool,
) -> TuneResult:
    """Run (or, with `resume`, restore and finish) a Ray Tune experiment kept in `state_dir`/ray."""
    metric, mode = rules.tune_objective(tune, data.schema.task)
    store = ModelStore.options(num_cpus=0).remote()  # type: ignore[attr-defined]  # @ray.remote made it an ActorClass; Ray types it as the class
    trainable = _trainable(data, train, tune, layout, metric=metric, store=store)
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "ray"
    callback = TrialCallback(on_trial, metric, data, store, state_dir)
    # Tune saves its experiment state at most every 10 s ("auto"): a trial that finished (and was logged)
    # less than that before a kill was restored as unfinished and ran again (measured: 8 of 8 trials run
    # after --resume, 2 of them already done). Save every second instead; the state is a small file here.
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "1")
    fit_started = time.time()
    if resume and rtune.Tuner.can_restore(str(path)):
        log.info("tune: restoring the interrupted Ray Tune experiment at %s", path)
        tuner = rtune.Tuner.restore(str(path), trainable, resume_unfinished=True, restart_errored=True)
    else:
        tuner = rtune.Tuner(
            trainable,
            param_space={name: ray_dim(dim) for name, dim in tune.space.items()},
            tune_config=rtune.TuneConfig(
                metric=metric,
                mode=mode,
                num_samples=tune.num_samples,
                search_alg=_search(tune, layout.limit),
                scheduler=_scheduler(tune, train),
                max_concurrent_trials=None,  # the search algorithm limits concurrency
                reuse_actors=True,
            ),
            run_config=rtune.RunConfig(
                name="ray", storage_path=str(state_dir), verbose=0, callbacks=[callback]
            ),
        )
    # Tune's own Ctrl-C handler ends the experiment quietly and returns as if it had finished; the
    # run would then be logged FINISHED with missing trials. Let Ctrl-C raise (the run is marked
    # KILLED); the experiment state Tune saves as it goes still lets `--resume` continue it.
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    try:
        grid = _results(tuner.fit())
    except Exception as exc:
        raise EngineError(f"ray: tuning failed ({first_line(exc)})") from exc
    trials = callback.results
    _add_restored(grid, trials, on_trial, metric=metric, data=data, store=store, state_dir=state_dir)
    errors = [r.error for r in grid if r.error]
    best = rules.best_trial(trials, mode, engine="ray", error=first_line(errors[0]) if errors else None)
    if best.model is None:
        raise EngineError(f"ray: the best trial's model ({best.trial_id}) was lost")
    ray.kill(store)
    return TuneResult(
        trials=trials,
        best=best,
        best_model=best.model,
        metric=metric,
        mode=mode,
        # A trial's last result is stamped when it reported (Tune's `timestamp`, whole seconds):
        # one restored from before the interruption predates this fit, one run now does not.
        trials_restored=sum(
            1 for r in grid if r.metrics and float(r.metrics.get("timestamp", 0)) < int(fit_started)
        ),
        details={
            "max_concurrent": layout.limit,
            "cpus_per_trial": layout.cpus_per_trial,
            "path": str(path),
        },
    )


def _search(tune: TuneConfig, limit: int) -> Searcher:
    if tune.algorithm == "tpe":
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        return ConcurrencyLimiter(OptunaSearch(seed=tune.seed), max_concurrent=limit)
    # BasicVariantGenerator is a SearchAlgorithm, not a Searcher; Tune takes either as search_alg.
    return BasicVariantGenerator(random_state=tune.seed, max_concurrent=limit)  # type: ignore[return-value]


def _scheduler(tune: TuneConfig, train: TrainConfig) -> TrialScheduler | None:
    if tune.scheduler != "asha":
        return None
    return ASHAScheduler(
        time_attr="rounds",  # reports come every few rounds: the grace period stays in rounds
        grace_period=tune.grace_period,
        max_t=train.num_boost_round,
        reduction_factor=3,
    )


def _trainable(
    data: Dataset, train: TrainConfig, tune: TuneConfig, layout: TrialLayout, *, metric: str, store: Any
) -> Any:
    return rtune.with_resources(
        rtune.with_parameters(
            tune_trial,
            data=(data.x_train, data.y_train, data.x_valid, data.y_valid, data.stream),
            settings={
                "train": train.model_dump(mode="json"),
                "schema": data.schema.to_dict(),
                "metric": metric,
                "asha": tune.scheduler == "asha",
                # each report is a round trip to the Tune driver (~10 ms here): about 5 per grace period
                "report_every": max(1, tune.grace_period // 5),
                "cache_key": uuid.uuid4().hex,
                "nthread": max(1, int(layout.cpus_per_trial)),
                "store": store,
            },
        ),
        {"cpu": layout.cpus_per_trial},
    )


def _add_restored(
    grid: list[Result],
    trials: list[TrialResult],
    on_trial: OnTrial,
    *,
    metric: str,
    data: Dataset,
    store: Any,
    state_dir: Path,
) -> None:
    """Trials finished before an interruption (restored, so no callback saw them), logged now."""
    seen = {t.trial_id for t in trials}
    for r in grid:
        last = r.metrics or {}
        trial_id = str(last.get("trial_id", ""))
        if not trial_id or trial_id in seen:
            continue
        model = Model.load_saved(state_dir / "models" / trial_id)
        raw = ray.get(store.get.remote(trial_id)) if model is None else None
        if raw:  # a trial run after a restore (the restored callback is a no-op)
            model = Model.from_bytes(raw, {"schema": data.schema.to_dict(), "info": {}})
        done = TrialResult(
            trial_id=trial_id,
            number=len(trials),
            params={k: plain(v) for k, v in (r.config or {}).items()},
            metric=float(last.get(metric, float("nan"))),
            metrics={k: float(v) for k, v in last.items() if k.startswith("valid_")},
            seconds=float(last.get("fit_s", 0.0)),
            rounds=int(last.get("rounds", 0)),
            status="completed" if last.get("final") else ("failed" if r.error else "pruned"),
            model=model,
        )
        trials.append(done)
        on_trial(done)


_TRIAL_DMATRICES: dict[tuple[Any, ...], Any] = {}


class _Report(xgb.callback.TrainingCallback):
    """Intermediate results for ASHA: the tune metric every `every` rounds, never at the last round."""

    def __init__(self, metric: str, every: int, total: int) -> None:
        self.metric, self.every, self.total = metric, every, total
        self.base = metric.removeprefix("valid_")

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        """Report this round when it is due."""
        values = evals_log.get("valid", {}).get(self.base)
        # The last round is reported once, as the final result: an extra intermediate report would
        # reach ASHA's max_t first and stop the trial before its model and metrics are recorded.
        if values and (epoch + 1) % self.every == 0 and epoch + 1 < self.total:
            rtune.report({self.metric: float(values[-1]), "rounds": epoch + 1, "final": False})
        return False


def tune_trial(config: dict[str, Any], data: Any = None, settings: Any = None) -> None:
    """One Ray Tune trial: plain xgboost in the trial's process (no Ray Train start-up).

    In memory, reused trial actors build the shared matrices once, not per trial. With external memory
    (`stream`), each trial reads the source into its own page cache and removes it when it ends: a cache
    kept for the next trial could outlive the actor (Tune kills actors without running cleanup)."""
    x, y, xv, yv, stream = data
    schema = FeatureSchema.from_dict(settings["schema"])
    train = TrainConfig.model_validate(settings["train"])
    params = xgb_params(train, schema, nthread=settings["nthread"], overrides=dict(config))
    nthread, max_bin = settings["nthread"], int(params["max_bin"])
    if stream is not None:
        with extmem.cache_dir() as cache:
            pair = extmem.extmem_pair(stream, schema, xv, yv, cache=cache, nthread=nthread, max_bin=max_bin)
            try:
                _fit_and_report(params, pair, (xv, yv), schema, train, settings)
            finally:
                extmem.free(*pair)
        return
    key = (settings["cache_key"], max_bin, nthread)
    if key not in _TRIAL_DMATRICES:
        _TRIAL_DMATRICES.clear()
        _TRIAL_DMATRICES[key] = quantile_pair(x, y, xv, yv, nthread=nthread, max_bin=max_bin)
    _fit_and_report(params, _TRIAL_DMATRICES[key], (xv, yv), schema, train, settings)


def _fit_and_report(
    params: dict[str, Any], pair: Any, valid: Any, schema: FeatureSchema, train: TrainConfig, settings: Any
) -> None:
    """Fit one trial on (train, valid) matrices; its model goes to the store, its valid metrics (on the
    `valid` rows, features and labels) to Tune."""
    dtrain, dvalid = pair
    xv, yv = valid
    every = int(settings.get("report_every", 1))
    callbacks = [_Report(settings["metric"], every, train.num_boost_round)] if settings["asha"] else []
    started = time.perf_counter()
    booster, _, rounds = fit_trial(params, dtrain, dvalid, train, callbacks)
    model = Model(booster, schema)
    metrics = prefixed("valid", compute(schema.task, yv, model.raw_predict(xv)))
    trial_id = rtune.get_context().get_trial_id()
    ray.get(settings["store"].put.remote(trial_id, bytes(booster.save_raw("ubj"))))
    rtune.report({**metrics, "rounds": rounds, "final": True, "fit_s": time.perf_counter() - started})


class TrialCallback(Callback):
    """Driver-side: turns finished Ray Tune trials into TrialResults for the runner (MLflow)."""

    def __init__(self, on_trial: OnTrial, metric: str, data: Dataset, store: Any, state_dir: Path) -> None:
        self.on_trial, self.metric, self.data, self.store = on_trial, metric, data, store
        self.state_dir = state_dir
        self.results: list[TrialResult] = []
        self.started: dict[str, float] = {}

    def __reduce__(self) -> Any:
        # Tune pickles its callbacks into the experiment state; a restored experiment gets a
        # no-op one (the runner's live MLflow logger cannot travel), and logs from the grid.
        return (Callback, ())

    def on_trial_start(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
        """Note when a trial started (for its duration)."""
        self.started[trial.trial_id] = time.perf_counter()

    def on_trial_complete(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
        """A trial ended: completed, or pruned when it never sent its final result."""
        self._record(trial, "completed")

    def on_trial_error(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
        """A trial failed."""
        self._record(trial, "failed")

    def _record(self, trial: Any, status: str) -> None:
        last = dict(trial.last_result or {})
        final = bool(last.get("final"))
        if status == "completed" and not final:
            status = "pruned"
        model = None
        if final:
            raw = ray.get(self.store.get.remote(trial.trial_id))
            if raw:
                model = Model.from_bytes(raw, {"schema": self.data.schema.to_dict(), "info": {}})
                model.save(self.state_dir / "models" / trial.trial_id)  # survives a killed driver
        metrics = {
            k: float(v) for k, v in last.items() if k.startswith("valid_") and isinstance(v, (int, float))
        }
        if model is not None:
            metrics = evaluate(model, self.data)
        value = metrics.get(self.metric, float(last.get(self.metric, float("nan"))))
        result = TrialResult(
            trial_id=trial.trial_id,
            number=len(self.results),
            params={k: plain(v) for k, v in (trial.config or {}).items()},
            metric=float(value),
            metrics=metrics,
            seconds=time.perf_counter() - self.started.get(trial.trial_id, time.perf_counter()),
            rounds=int(last.get("rounds", 0)),
            status=status,
            model=model,
        )
        self.results.append(result)
        self.on_trial(result)


def ray_dim(dim: SearchDim) -> Any:
    """A recipe's search dimension as a Ray Tune domain."""
    if dim.kind == "choice":
        return rtune.choice(list(dim.values or []))
    low, high = float(dim.low or 0), float(dim.high or 0)
    if dim.kind == "randint":
        return rtune.randint(int(low), int(high))
    if dim.kind == "loguniform":
        return rtune.loguniform(low, high)
    if dim.kind == "quniform":
        q = float(dim.q or 1)
        return (
            rtune.uniform(low, high).quantized(q)
            if not q.is_integer()
            else rtune.sample_from(_quantized(low, high, q))
        )
    return rtune.uniform(low, high)


def _quantized(low: float, high: float, q: float) -> Callable[[Any], float]:
    """A sampler of multiples of a whole `q` in [low, high] (Tune's own quantized() yields floats)."""

    def sample(_spec: Any) -> float:
        return quantize(np.random.uniform(low, high), q)

    return sample


def _results(grid: ResultGrid) -> list[Result]:
    """A ResultGrid's results as a list (it indexes but Ray does not type it as iterable)."""
    return [grid[i] for i in range(len(grid))]
