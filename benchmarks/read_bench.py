"""Training input on engine ray: the driver ships the train split through the object store
(`engine.train_data=object_store`), or each worker reads its own shard of the source files with Ray Data
(`engine.train_data=ray_data`).

    .venv/bin/python benchmarks/read_bench.py [--rows 1000000] [--files 8] [--repeat 2]

One parquet source (synthetic_higgs, fixed seed, written once to `--files` files), the same split and the
same shards both ways, so the models match; `time_train_s` (MLflow metric: from the start of the train phase
to a fitted model) is compared, alternating the contenders. Each run is its own `mlscale run` with its own
private Ray on this machine: one node, where the object store is local shared memory.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "benchmarks" / "data"
MLSCALE = str(Path(sys.executable).parent / "mlscale")
RECIPE = str(ROOT / "recipes/synthetic_higgs.yaml")

from mlscale.data import synthetic_table  # noqa: E402
from mlscale.recipe import load_recipe  # noqa: E402


def source_dir(rows: int, files: int) -> Path:
    """The synthetic table of `rows` rows as `files` parquet files, generated once."""
    out = DATA / f"train_{rows}_{files}"
    if (out / "_SUCCESS").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    table = synthetic_table(load_recipe(RECIPE, overrides={"data.synthetic.n_rows": rows}).data)
    step = -(-len(table) // files)
    for i in range(files):
        table.iloc[i * step : (i + 1) * step].to_parquet(out / f"part{i}.parquet")
    (out / "_SUCCESS").write_text("")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    files = source_dir(args.rows, args.files)
    base = ["run", RECIPE, "-q", "--engine", "ray", "--set", "tune=null", "--set", "predict=null",
            "--set", "data.source=parquet", "--set", f"data.path={files}"]  # fmt: skip
    contenders = {
        "driver ships (object store)": [*base, "--set", "engine.train_data=object_store"],
        "workers read (Ray Data)": [*base, "--set", "engine.train_data=ray_data"],
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    auc: dict[str, float] = {}
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
        for rep in range(args.repeat):
            for name, cmd in contenders.items():
                experiment = f"read_{len(times[name])}_{list(contenders).index(name)}"
                subprocess.run(
                    [MLSCALE, *cmd, "--set", f"mlflow.experiment={experiment}"], cwd=tmp, check=True
                )
                run = mlflow.search_runs(experiment_names=[experiment]).iloc[0]
                times[name].append(float(run["metrics.time_train_s"]))
                auc[name] = float(run["metrics.test_auc"])
                print(f"{rep}: {name}: train {times[name][-1]:.2f}s, test_auc {auc[name]:.5f}", flush=True)
    print(f"\n{args.rows:,} rows in {args.files} parquet files, engine ray (private, this machine)\n")
    print("| training input | time_train_s (median) | test_auc |")
    print("|---|---|---|")
    for name in contenders:
        print(f"| {name} | {statistics.median(times[name]):.2f} | {auc[name]:.5f} |")
    shipped, read = (statistics.median(t) for t in times.values())
    print(f"\nworkers read / driver ships: {read / shipped:.2f}")


if __name__ == "__main__":
    main()
