"""Training past memory: `train.external_memory` on vs off, peak memory of the whole process tree and wall time.

    .venv/bin/python benchmarks/extmem_bench.py [--rows 1000000,4000000] [--modes off,on] [--engine local]
                                                [--out benchmarks/results/extmem_bench.md]

Per size, a synthetic table of `--rows` rows x 28 float32 features and a binary label (parquet files of
250k rows, written once to a temp dir by this script) is trained with 100 rounds, depth 8, no early
stopping, valid and test 1 % each, no tuning, no reference model, no predict. Each run is its own `mlscale
run` process; memory_bench.py's sampler reads the PSS of its whole process tree every 0.25 s. Reported: peak
MB, seconds, test AUC per mode, the on/off ratios per size, and each mode's peak growth from the smallest to
the largest size (external memory should stay nearly flat, in memory grows with the rows).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from memory_bench import measure  # noqa: E402

ROWS_PER_FILE = 250_000
FEATURES = 28


def write_table(folder: Path, rows: int, seed: int = 0) -> Path:
    """Synthetic parquet files: a fixed nonlinear function of the features plus noise, chunk by chunk."""
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    weights = np.random.default_rng(seed).normal(size=FEATURES).astype(np.float32)
    for i, start in enumerate(range(0, rows, ROWS_PER_FILE)):
        n = min(ROWS_PER_FILE, rows - start)
        rng = np.random.default_rng(seed + 1 + i)
        x = rng.normal(size=(n, FEATURES)).astype(np.float32)
        logit = x @ weights / 3 + x[:, 0] * x[:, 1] - np.abs(x[:, 2]) + np.sin(3 * x[:, 3])
        label = (logit + rng.logistic(size=n) > 0).astype(np.int8)
        frame = pd.DataFrame(x, columns=[f"f{j}" for j in range(FEATURES)]).assign(label=label)
        frame.to_parquet(folder / f"part-{i:04d}.parquet", index=False)
    return folder


def recipe(path: Path, data: Path, engine: str, workers: int = 1) -> Path:
    import yaml

    doc = {
        "name": "extmem_bench",
        "task": "binary",
        "data": {"source": "parquet", "path": str(data), "target": "label",
                 "split": {"valid": 0.01, "test": 0.01, "seed": 0}},
        "train": {"num_boost_round": 100, "early_stopping_rounds": None, "eta": 0.1, "max_depth": 8,
                  "eval_metric": ["logloss"]},
        "evaluate": {"reference": "off"},
        "engine": {"name": engine, "workers": workers},
    }  # fmt: skip
    path.write_text(yaml.safe_dump(doc))
    return path


def test_auc(cwd: Path, experiment: str) -> float:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{cwd}/mlflow.db")
    runs = mlflow.search_runs(experiment_names=[experiment])
    return float(runs["metrics.test_auc"].iloc[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="1000000,4000000", help="comma-separated row counts")
    parser.add_argument("--modes", default="off,on")
    parser.add_argument("--off-up-to", type=int, default=None, help="skip mode off above this many rows")
    parser.add_argument("--engine", default="local")
    parser.add_argument("--workers", type=int, default=1, help="engine.workers (ray: one worker per shard)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/extmem_bench.md"))
    args = parser.parse_args()
    sizes = [int(n) for n in args.rows.split(",")]
    modes = args.modes.split(",")
    results: dict[tuple[int, str], dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="extmem-bench-") as tmp:
        cwd = Path(tmp)
        for rows in sizes:
            data = write_table(cwd / f"data_{rows}", rows)
            path = recipe(cwd / f"recipe_{rows}.yaml", data, args.engine, args.workers)
            for mode in modes:
                if mode == "off" and args.off_up_to is not None and rows > args.off_up_to:
                    continue
                experiment = f"extmem_{rows}_{mode}"
                run = ["run", str(path), "-q", "--set", f"train.external_memory={mode}",
                       "--set", f"mlflow.experiment={experiment}"]  # fmt: skip
                peak = measure(run, cwd)
                results[rows, mode] = {
                    "peak_mb": peak["tree_mb"], "anon_mb": peak["tree_anon_mb"], "file_mb": peak["tree_file_mb"],
                    "worker_mb": peak["largest_ray_worker_mb"], "worker_anon_mb": peak["largest_ray_worker_anon_mb"],
                    "seconds": peak["seconds"], "auc": test_auc(cwd, experiment),
                }  # fmt: skip
                print(rows, mode, results[rows, mode], flush=True)
    report = _report(results, sizes, modes, args)
    print(report)
    Path(args.out).write_text(report)


def _report(
    results: dict[tuple[int, str], dict[str, float]],
    sizes: list[int],
    modes: list[str],
    args: argparse.Namespace,
) -> str:
    machine = f"{os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB"
    lines = [
        "# extmem_bench",
        "",
        f"`.venv/bin/python benchmarks/extmem_bench.py --rows {','.join(map(str, sizes))} "
        f"--modes {','.join(modes)} --engine {args.engine} --workers {args.workers}"
        + (f" --off-up-to {args.off_up_to}" if args.off_up_to is not None else "")
        + f"` ({machine}; 28 float32 features, "
        "100 rounds, depth 8, valid/test 1 % each; peak = PSS of the whole process tree)",
        "",
        "peak MB is the whole tree's PSS; anon is its anonymous part (heap: what needs RAM), file its "
        "file-backed part (mapped libraries and xgboost's mmap-read page cache, which the kernel can drop); "
        "each is its own peak over the run.",
        "",
        "| rows | mode | peak MB | anon MB | file MB | seconds | test AUC |",
        "|---|---|---|---|---|---|---|",
    ]
    for (rows, mode), r in results.items():
        lines.append(
            f"| {rows:,} | {mode} | {r['peak_mb']:.0f} | {r['anon_mb']:.0f} | {r['file_mb']:.0f} | "
            f"{r['seconds']:.1f} | {r['auc']:.4f} |"
        )
    if {"on", "off"} <= set(modes):
        lines += ["", "| rows | peak on/off | seconds on/off | AUC on - off (points) |", "|---|---|---|---|"]
        for rows in [n for n in sizes if (n, "off") in results and (n, "on") in results]:
            on, off = results[rows, "on"], results[rows, "off"]
            lines.append(
                f"| {rows:,} | {on['peak_mb'] / off['peak_mb']:.2f} | {on['seconds'] / off['seconds']:.2f} | "
                f"{100 * (on['auc'] - off['auc']):+.2f} |"
            )
    if args.engine == "ray":
        lines += ["", "largest Ray worker (PSS, its own peak; anon: RssAnon):", "",
                  "| rows | mode | worker peak MB | worker anon MB |", "|---|---|---|---|"]  # fmt: skip
        for (rows, mode), r in results.items():
            lines.append(f"| {rows:,} | {mode} | {r['worker_mb']:.0f} | {r['worker_anon_mb']:.0f} |")
        if {"on", "off"} <= set(modes):
            for rows in sizes:
                on, off = results[rows, "on"], results[rows, "off"]
                lines.append(
                    f"\nworker peak on/off at {rows:,} rows: {on['worker_mb'] / off['worker_mb']:.2f}"
                )
    if len(sizes) > 1:
        lines += ["", f"peak growth {sizes[0]:,} → {sizes[-1]:,} rows:"]
        for mode in [m for m in modes if (sizes[0], m) in results and (sizes[-1], m) in results]:
            first, last = results[sizes[0], mode]["peak_mb"], results[sizes[-1], mode]["peak_mb"]
            anon0, anon1 = results[sizes[0], mode]["anon_mb"], results[sizes[-1], mode]["anon_mb"]
            lines.append(
                f"- {mode}: {100 * (last / first - 1):+.0f} % (anon {100 * (anon1 / anon0 - 1):+.0f} %)"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
