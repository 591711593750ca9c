"""Tuning, 16 trials on 200k rows: plain loops against the engines, side by side in one process.

    .venv/bin/python benchmarks/tune_bench.py [--rows 200000] [--trials 16] [--rounds 100]

Contenders, run one after the other on the same data and the same 16 random configurations where the
algorithm allows it:
  loop          a plain sequential `xgboost.train` loop over the configurations (the full budget)
  optuna-tpe    plain Optuna TPE, no pruning (the 53 s anchor of the bench issue)
  local         engine local, random search, no early stop of trials
  local-tpe-sh  engine local, TPE + successive-halving pruning
  ray           engine ray, random search, trials in parallel (no early stop of trials)
  ray-asha      engine ray, random search + ASHA
  dask          engine dask, random search, trials in parallel on a private LocalCluster's workers
  dask-asha     engine dask, random search + successive-halving pruning
Ray and the Dask cluster are started once (reported apart). Prints seconds, best valid logloss and the
ratios of the targets.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mlscale.data import prepare  # noqa: E402
from mlscale.recipe import load_recipe  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()

    import numpy as np
    import optuna
    import xgboost as xgb

    from mlscale.engines.dask import DaskEngine
    from mlscale.engines.local import LocalEngine
    from mlscale.engines.ray import RayEngine
    from mlscale.modeling.training import dmatrices, xgb_params
    from mlscale.recipe import EngineConfig

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    recipe = load_recipe(
        ROOT / "recipes/synthetic_higgs.yaml",
        overrides={
            "data.synthetic.n_rows": args.rows,
            "train.num_boost_round": args.rounds,
            "tune.num_samples": args.trials,
        },
    )
    assert recipe.tune is not None
    data = prepare(recipe, source="bench")
    nthread = os.cpu_count() or 1
    rng = np.random.default_rng(0)
    configs = [
        {"eta": float(np.exp(rng.uniform(np.log(0.03), np.log(0.3)))), "max_depth": int(rng.integers(4, 10)),
         "subsample": float(rng.uniform(0.6, 1.0))}
        for _ in range(args.trials)
    ]  # fmt: skip
    results: dict[str, tuple[float, float]] = {}

    def loop() -> float:
        dtrain, dvalid = dmatrices(data, nthread=nthread)
        best = float("inf")
        for cfg in configs:
            params = xgb_params(recipe.train, data.schema, nthread=nthread, overrides=cfg)
            log: dict = {}
            xgb.train(
                params, dtrain, args.rounds, evals=[(dvalid, "valid")], evals_result=log, verbose_eval=False
            )
            best = min(best, log["valid"]["logloss"][-1])
        return best

    def optuna_tpe() -> float:
        dtrain, dvalid = dmatrices(data, nthread=nthread)

        def objective(trial: optuna.Trial) -> float:
            cfg = {"eta": trial.suggest_float("eta", 0.03, 0.3, log=True),
                   "max_depth": trial.suggest_int("max_depth", 4, 9),
                   "subsample": trial.suggest_float("subsample", 0.6, 1.0)}  # fmt: skip
            params = xgb_params(recipe.train, data.schema, nthread=nthread, overrides=cfg)
            log: dict = {}
            xgb.train(
                params, dtrain, args.rounds, evals=[(dvalid, "valid")], evals_result=log, verbose_eval=False
            )
            return log["valid"]["logloss"][-1]

        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
        study.optimize(objective, n_trials=args.trials)
        return float(study.best_value)

    def engine_tune(engine: object, **tune_overrides: object) -> float:
        tune = recipe.tune.model_copy(update=tune_overrides)  # type: ignore[union-attr]
        with tempfile.TemporaryDirectory() as state:
            result = engine.tune(data, recipe.train, tune, on_trial=lambda t: None, state_dir=Path(state))  # type: ignore[attr-defined]
        return float(result.best.metric)

    started = time.perf_counter()
    ray_engine = RayEngine(EngineConfig(name="ray"))
    ray_engine.start()
    ray_start = time.perf_counter() - started
    started = time.perf_counter()
    dask_engine = DaskEngine(EngineConfig(name="dask"))
    dask_engine.start()
    dask_start = time.perf_counter() - started
    local = LocalEngine(EngineConfig(name="local"))
    contenders = {
        "loop": loop,
        "optuna-tpe": optuna_tpe,
        "local": lambda: engine_tune(local, algorithm="random", scheduler="none"),
        "local-tpe-sh": lambda: engine_tune(local, algorithm="tpe", scheduler="asha", grace_period=10),
        "ray": lambda: engine_tune(ray_engine, algorithm="random", scheduler="none"),
        "ray-asha": lambda: engine_tune(ray_engine, algorithm="random", scheduler="asha", grace_period=10),
        "dask": lambda: engine_tune(dask_engine, algorithm="random", scheduler="none"),
        "dask-asha": lambda: engine_tune(dask_engine, algorithm="random", scheduler="asha", grace_period=10),
    }
    try:
        for name, fn in contenders.items():
            t = time.perf_counter()
            best = fn()
            results[name] = (time.perf_counter() - t, best)
            print(f"{name}: {results[name][0]:.1f} s, best valid_logloss {best:.5f}", flush=True)
    finally:
        ray_engine.stop()
        dask_engine.stop()

    print(
        f"\nmachine: {os.cpu_count()} CPUs; {args.rows:,} rows, {args.trials} trials x {args.rounds} rounds; "
        f"ray start-up {ray_start:.1f} s, dask {dask_start:.1f} s (reported apart)\n"
    )
    print("| contender | seconds | best valid logloss |")
    print("|---|---|---|")
    for name, (sec, best) in results.items():
        print(f"| {name} | {sec:.1f} | {best:.5f} |")
    loop_s, loop_best = results["loop"]
    print(f"\nray / loop (target <= 1.1): {results['ray'][0] / loop_s:.2f}")
    print(f"dask / loop (target <= 1.1): {results['dask'][0] / loop_s:.2f}")
    dask_asha_s, dask_asha_best = results["dask-asha"]
    print(
        f"loop / dask-asha speed-up: {loop_s / dask_asha_s:.2f}; "
        f"best score gap {100 * (dask_asha_best - loop_best) / loop_best:+.2f} %"
    )
    asha_s, asha_best = results["ray-asha"]
    print(
        f"loop / ray-asha speed-up (target >= 1.5): {loop_s / asha_s:.2f}; "
        f"best score gap {100 * (asha_best - loop_best) / loop_best:+.2f} % (target within 0.5 %)"
    )
    print(
        f"local-tpe-sh / optuna-tpe (target <= 1.0): {results['local-tpe-sh'][0] / results['optuna-tpe'][0]:.2f}"
    )


if __name__ == "__main__":
    main()
