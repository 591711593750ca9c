"""Training time vs rows: bare xgboost.train, engine local, engine ray (actors), engine dask (xgboost.dask on
a private LocalCluster), side by side in one run.

    .venv/bin/python benchmarks/train_scaling.py --rows 100000,300000,1000000 --repeat 3

Data is generated once per size with a fixed seed (float32, 28 features, HIGGS-sized) and cached as
parquet under benchmarks/data/. Ray and the Dask cluster are started once and reused; their start-ups are
reported separately.
Prints a markdown table of medians and the ratios the README's Performance section quotes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mlscale.data import prepare  # noqa: E402
from mlscale.recipe import load_recipe  # noqa: E402


def fit_line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    slope, intercept = np.polyfit(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float), 1)
    return float(intercept), float(slope)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="100000,300000,1000000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    sizes = [int(r) for r in args.rows.split(",")]

    import xgboost as xgb

    from mlscale.engines.dask import DaskEngine
    from mlscale.engines.local import LocalEngine
    from mlscale.engines.ray import RayEngine
    from mlscale.recipe import EngineConfig

    started = time.perf_counter()
    ray_engine = RayEngine(EngineConfig(name="ray"))
    ray_engine.start()
    ray_start = time.perf_counter() - started
    started = time.perf_counter()
    dask_engine = DaskEngine(EngineConfig(name="dask"))
    dask_engine.start()
    dask_start = time.perf_counter() - started
    local = LocalEngine(EngineConfig(name="local"))
    table: dict[tuple[str, int], list[float]] = {}
    try:
        for rows in sizes:
            recipe = load_recipe(
                ROOT / "recipes/synthetic_higgs.yaml",
                overrides={"data.synthetic.n_rows": rows, "train.num_boost_round": args.rounds},
            )
            data = prepare(recipe, source="bench")
            for _ in range(args.repeat):  # A B C A B C: drift hits every contender
                t = time.perf_counter()
                params = {
                    "objective": "binary:logistic", "tree_method": "hist", "eta": 0.1, "max_depth": 8,
                    "nthread": os.cpu_count(), "eval_metric": "logloss",
                }  # fmt: skip
                dtrain = xgb.QuantileDMatrix(data.x_train, label=data.y_train, nthread=os.cpu_count())
                dvalid = xgb.QuantileDMatrix(data.x_valid, label=data.y_valid, ref=dtrain)
                xgb.train(params, dtrain, args.rounds, evals=[(dvalid, "valid")], verbose_eval=False)
                table.setdefault(("xgboost.train", rows), []).append(time.perf_counter() - t)
                for name, engine in (("local", local), ("ray", ray_engine), ("dask", dask_engine)):
                    t = time.perf_counter()
                    engine.train(data, recipe.train)
                    table.setdefault((name, rows), []).append(time.perf_counter() - t)
                print(rows, {k[0]: round(v[-1], 2) for k, v in table.items() if k[1] == rows}, flush=True)
    finally:
        ray_engine.stop()
        dask_engine.stop()

    med = {k: statistics.median(v) for k, v in table.items()}
    print(
        f"\nmachine: {os.cpu_count()} CPUs; ray start-up {ray_start:.1f} s, dask {dask_start:.1f} s (reported apart); "
        f"{args.rounds} rounds, medians of {args.repeat}\n"
    )
    print(
        "| rows | xgboost.train s | local s | ray s | dask s | local / xgboost | ray / local | dask / local |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for rows in sizes:
        x, lo, ra = med[("xgboost.train", rows)], med[("local", rows)], med[("ray", rows)]
        da = med[("dask", rows)]
        print(
            f"| {rows:,} | {x:.2f} | {lo:.2f} | {ra:.2f} | {da:.2f} | {lo / x:.2f} | {ra / lo:.2f} | {da / lo:.2f} |"
        )
    if len(sizes) >= 2:
        li, ls = fit_line(sizes, [med[("local", r)] for r in sizes])
        ri, rs = fit_line(sizes, [med[("ray", r)] for r in sizes])
        di, ds = fit_line(sizes, [med[("dask", r)] for r in sizes])
        print(
            f"\nfixed overhead (intercept): local {li:.2f} s, ray {ri:.2f} s, dask {di:.2f} s; "
            f"marginal cost (slope) ray / local = {rs / ls:.2f}, dask / local = {ds / ls:.2f}"
        )
        print(
            f"dask / local at {sizes[-1]:,} rows (target <= 1.3): {med[('dask', sizes[-1])] / med[('local', sizes[-1])]:.2f}"
        )


if __name__ == "__main__":
    main()
