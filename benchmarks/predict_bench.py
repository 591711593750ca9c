"""Batch inference, parquet -> parquet: in-memory inplace_predict against the engines' streaming paths.

    .venv/bin/python benchmarks/predict_bench.py [--rows 2000000] [--repeat 3]

The input (28 float32 features in 8 parquet files) is generated once with a fixed seed and cached under
benchmarks/data/. The model: engine local on 200k rows of the same distribution, 100 rounds, depth 8.
Contenders alternate (A B C A B C): `inplace_predict` on the whole input already in memory (the ceiling),
engine local (pyarrow batches -> predict on a thread per CPU -> atomic parquet), engine ray (a generator
task per file streams its predictions to the driver, which writes them in order; Ray started once,
reported apart), and both engines with a partitioned output (local: one part per file from this process;
ray: one task per file reads, predicts and writes its part). The first ray call runs on cold workers
(process start and imports, as in a fresh `mlscale predict`), the calls after it find them warm. Engine dask
(a private LocalCluster, started once and reported apart; one warm-up call not timed): a task per file
returns its predictions to the driver, which writes them in order, or writes its part (partitioned).

The floor: CPU seconds of `inplace_predict` against those of reading the input and writing an output of
the same shape without predicting (the same batches, feature typing and parquet writer). With every CPU
busy, a file-to-file path can reach at most predict / (predict + I/O) of the in-memory rate.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "benchmarks" / "data"

from mlscale.data import prepare, synthetic_table  # noqa: E402
from mlscale.recipe import load_recipe  # noqa: E402


def input_dir(rows: int, files: int = 8) -> Path:
    """Generated once: `rows` rows in `files` parquet files, features only, plus a row id."""
    out = DATA / f"predict_{rows}"
    if (out / "_SUCCESS").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    recipe = load_recipe(
        ROOT / "recipes/synthetic_higgs.yaml", overrides={"data.synthetic.n_rows": rows // files}
    )
    for part in range(files):
        cfg = recipe.data.model_copy(
            update={"synthetic": recipe.data.synthetic.model_copy(update={"seed": 100 + part})}  # type: ignore[union-attr]
        )
        frame = synthetic_table(cfg).drop(columns=[recipe.data.target])
        frame.insert(0, "row_id", range(part * len(frame), (part + 1) * len(frame)))
        frame.to_parquet(out / f"part{part}.parquet")
    (out / "_SUCCESS").write_text("")
    return out


def bench_setup(rows: int) -> tuple[Path, Any, Any, Any, Any]:
    """The input dir, the engine local that trained the model, the model, its dataset and the whole input
    as a float32 matrix (for the in-memory ceiling)."""
    import pyarrow.dataset as pads

    from mlscale.engines.local import LocalEngine
    from mlscale.recipe import EngineConfig

    source = input_dir(rows)
    recipe = load_recipe(
        ROOT / "recipes/synthetic_higgs.yaml",
        overrides={"data.synthetic.n_rows": 200_000, "tune": None, "predict": None},
    )
    data = prepare(recipe, source="bench")
    local = LocalEngine(EngineConfig(name="local"))
    model = local.train(data, recipe.train).model
    table = pads.dataset(str(source), format="parquet").to_table()
    x = table.select(list(data.schema.features)).to_pandas().to_numpy(dtype="float32")
    return source, local, model, data, x


def io_only(model: Any, source: Path, out: Path) -> None:
    """Read every input batch, type its features and write an output of the prediction's shape, one part
    per file: a file-to-file path's work, less the prediction."""
    import numpy as np
    import pandas as pd

    from mlscale.data import iter_input_batches
    from mlscale.scoring.partitioned import TableSink

    rng = np.random.default_rng(0)
    for i, path in enumerate(sorted(source.glob("*.parquet"))):
        _, batches = iter_input_batches(str(path), batch_size=65536, where="bench")
        sink = TableSink(out / f"io-{i}.parquet", "parquet")
        for batch in batches:
            frame = batch.to_pandas(split_blocks=True)
            model.schema.frame(frame)
            n = len(frame)
            sink.write(pd.DataFrame({"row_id": frame["row_id"].to_numpy(), "prediction": rng.integers(0, 2, n),
                                     "probability": rng.random(n)}))  # fmt: skip
        sink.close()


def retire_idle_workers() -> None:
    """Make the next ray call start cold (as a fresh `mlscale predict`, whose workers start and import for
    the first task): tasks that take every CPU end with `max_calls=1`, so their workers exit."""
    import ray

    def _exit() -> None:
        return None

    exit_worker = ray.remote(num_cpus=1, max_calls=1)(_exit)
    ray.get([exit_worker.remote() for _ in range(int(ray.cluster_resources().get("CPU", 1)))])


def cpu_seconds(fn: Any) -> float:
    started = time.process_time()
    fn()
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from mlscale.engines.dask import DaskEngine
    from mlscale.engines.ray import RayEngine
    from mlscale.recipe import EngineConfig, PredictConfig

    source, local, model, data, x = bench_setup(args.rows)
    features = list(data.schema.features)

    started = time.perf_counter()
    ray_engine = RayEngine(EngineConfig(name="ray"))
    ray_engine.start()
    ray_start = time.perf_counter() - started
    started = time.perf_counter()
    dask_engine = DaskEngine(EngineConfig(name="dask"))
    dask_engine.start()
    dask_start = time.perf_counter() - started
    times: dict[str, list[float]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            single = PredictConfig(input=str(source), output=f"{tmp}/out.parquet", id_columns=["row_id"])
            parts = PredictConfig(input=str(source), output=f"{tmp}/parts/", id_columns=["row_id"])
            contenders = (
                ("local", local.predict, single),
                ("ray (cold workers)", ray_engine.predict, single),
                # the same again at once: the worker processes the previous call started are still there
                ("ray (warm workers)", ray_engine.predict, single),
                ("local partitioned", local.predict, parts),
                ("ray partitioned (warm workers)", ray_engine.predict, parts),
                ("dask (warm workers)", dask_engine.predict, single),
                ("dask partitioned (warm workers)", dask_engine.predict, parts),
            )
            # not timed: the workers import mlscale and load the model once
            dask_engine.predict(model, parts, data=None, where="bench")
            cpu: dict[str, list[float]] = {}
            for _ in range(args.repeat):
                t = time.perf_counter()
                model.booster.inplace_predict(x)
                times.setdefault("inplace_predict (in memory)", []).append(time.perf_counter() - t)
                cpu.setdefault("predict", []).append(cpu_seconds(lambda: model.booster.inplace_predict(x)))
                cpu.setdefault("io", []).append(cpu_seconds(lambda: io_only(model, source, Path(tmp))))
                for name, predict, cfg in contenders:
                    if name == "ray (cold workers)":
                        retire_idle_workers()  # not timed
                    t = time.perf_counter()
                    result = predict(model, cfg, data=None, where="bench")
                    times.setdefault(name, []).append(time.perf_counter() - t)
                    assert result.rows == args.rows, (name, result.rows)
                print({k: round(v[-1], 2) for k, v in times.items()}, flush=True)
    finally:
        ray_engine.stop()
        dask_engine.stop()

    rate = {k: args.rows / statistics.median(v) for k, v in times.items()}
    ceiling = rate["inplace_predict (in memory)"]
    print(
        f"\nmachine: {os.cpu_count()} CPUs; {args.rows:,} rows x {len(features)} features, "
        f"medians of {args.repeat}; ray start-up {ray_start:.1f} s, dask {dask_start:.1f} s (reported apart)\n"
    )
    print("| contender | median s | rows/s | share of inplace_predict |")
    print("|---|---|---|---|")
    for name, values in times.items():
        print(
            f"| {name} | {statistics.median(values):.2f} | {rate[name]:,.0f} | {rate[name] / ceiling:.2f} |"
        )
    print(
        f"\nlocal partitioned / inplace_predict (target >= 0.85): {rate['local partitioned'] / ceiling:.2f}"
    )
    warm = rate["ray partitioned (warm workers)"] / ceiling
    print(f"ray partitioned, warm workers / inplace_predict (target >= 0.8): {warm:.2f}")
    dask_warm = rate["dask partitioned (warm workers)"] / ceiling
    print(f"dask partitioned, warm workers / inplace_predict (target >= 0.75): {dask_warm:.2f}")
    print(f"ray one file, cold / warm workers: {rate['ray (cold workers)'] / ceiling:.2f} / "
          f"{rate['ray (warm workers)'] / ceiling:.2f}")  # fmt: skip
    predict_cpu, io_cpu = statistics.median(cpu["predict"]), statistics.median(cpu["io"])
    print(f"\nfloor: inplace_predict {predict_cpu:.2f} CPU s, reading + writing without predicting {io_cpu:.2f} "
          f"CPU s; a file-to-file path reaches at most {predict_cpu / (predict_cpu + io_cpu):.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
