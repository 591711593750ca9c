"""What report.html costs at the end of a run, at 1M rows.

    .venv/bin/python benchmarks/report_bench.py [--rows 1000000] [--rounds 20] [--trials 0]

Runs recipes/synthetic_higgs.yaml (28 float32 features, binary) on engine local at --rows with --rounds
boosting rounds (the report's cost does not depend on them) and --trials tune trials, in a temporary
directory with its own sqlite store. Reports the run's `time_report_s` (data profile over every split and
the constant baseline, logging them, reading the run back from MLflow, rendering, writing, logging
report.html), its parts timed again in this process, and `mlscale report RUN` (best of 3). Writes
benchmarks/results/report_bench.md.
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

import mlscale  # noqa: E402
from mlscale.data import prepare  # noqa: E402
from mlscale.report.build import rebuild  # noqa: E402
from mlscale.report.profile import constant_baseline, profile_section  # noqa: E402


def best_of(n: int, func) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--trials", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlscale-report-bench-") as tmp:
        os.chdir(tmp)
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        overrides = {"data.synthetic.n_rows": args.rows, "train.num_boost_round": args.rounds,
                     **({"tune.num_samples": args.trials} if args.trials else {"tune": None})}  # fmt: skip
        result = mlscale.run(ROOT / "recipes/synthetic_higgs.yaml", overrides=overrides)
        from mlflow.tracking import MlflowClient

        metrics = MlflowClient(result.tracking_uri).get_run(result.run_id).data.metrics
        data = prepare(result.recipe, source="synthetic_higgs")
        profile = best_of(3, lambda: profile_section(data))
        constant = best_of(3, lambda: constant_baseline(data))
        again = best_of(3, lambda: rebuild(result.run_id, tracking_uri=result.tracking_uri, out="again.html"))
        size = Path("again.html").stat().st_size
    lines = [
        f"rows: {args.rows:,} (train {len(data.x_train):,}, valid {len(data.x_valid):,}, test {len(data.x_test):,}); "
        f"{args.rounds} rounds, {args.trials} tune trials; engine local; {os.cpu_count()} CPUs",
        "",
        "| what | seconds |",
        "|---|---|",
        f"| run total (`time_total_s`, before the report) | {metrics['time_total_s']:.2f} |",
        f"| train (`time_train_s`) | {metrics['time_train_s']:.2f} |",
        f"| report at the end of the run (`time_report_s`) | {metrics['time_report_s']:.2f} |",
        f"| of which: data profile (all splits) | {profile:.2f} |",
        f"| of which: constant baseline | {constant:.2f} |",
        f"| `mlscale report RUN` (read the run back + render + write; best of 3) | {again:.2f} |",
        "",
        f"report.html: {size / 1e3:.0f} kB",
    ]
    text = "\n".join(lines)
    print(text)
    out = ROOT / "benchmarks/results/report_bench.md"
    out.write_text("# report.html cost (benchmarks/report_bench.py)\n\n" + text + "\n")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
