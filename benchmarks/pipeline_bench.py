"""Engine local's streaming predict with and without its read → predict → write overlap (mlscale.scoring.pipeline).

    .venv/bin/python benchmarks/pipeline_bench.py [--rows 2000000] [--repeat 3]

Same input and model as predict_bench.py (28 float32 features in 8 parquet files, 100 rounds, depth 8).
Contenders alternate in one run: in-memory `inplace_predict` (the ceiling), engine local with the stages
in sequence (`ahead` replaced by the identity) and with them overlapped, for one output file and for a
partitioned output. Printed as medians and shares of the ceiling.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from predict_bench import bench_setup  # noqa: E402

import mlscale.scoring.predict as predicting  # noqa: E402
from mlscale.scoring.pipeline import ahead  # noqa: E402


def _in_sequence(items: Iterable[object], *, depth: int = 2) -> Iterator[object]:
    yield from items


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from mlscale.recipe import PredictConfig

    source, local, model, _, x = bench_setup(args.rows)
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        single = PredictConfig(input=str(source), output=f"{tmp}/out.parquet", id_columns=["row_id"])
        parts = PredictConfig(input=str(source), output=f"{tmp}/parts/", id_columns=["row_id"])
        contenders = [
            (f"local {kind}{' (stages in sequence)' if stage is _in_sequence else ''}", stage, cfg)
            for kind, cfg in (("single file", single), ("partitioned", parts))
            for stage in (_in_sequence, ahead)
        ]
        for _ in range(args.repeat):
            t = time.perf_counter()
            model.booster.inplace_predict(x)
            times.setdefault("inplace_predict (in memory)", []).append(time.perf_counter() - t)
            for name, stage, cfg in contenders:
                predicting.ahead = stage  # type: ignore[assignment]
                t = time.perf_counter()
                result = local.predict(model, cfg, data=None, where="bench")
                times.setdefault(name, []).append(time.perf_counter() - t)
                assert result.rows == args.rows, (name, result.rows)
            print({k: round(v[-1], 2) for k, v in times.items()}, flush=True)
    predicting.ahead = ahead
    ceiling = statistics.median(times["inplace_predict (in memory)"])
    print(f"\nmachine: {os.cpu_count()} CPUs; {args.rows:,} rows, medians of {args.repeat}\n")
    print("| contender | median s | share of inplace_predict |")
    print("|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.2f} | {ceiling / statistics.median(values):.2f} |")


if __name__ == "__main__":
    main()
