"""Peak memory (PSS of the whole process tree: driver, and a private Ray's GCS, raylet and workers).

    .venv/bin/python benchmarks/memory_bench.py [--train-rows 1000000] [--predict-rows 2000000,10000000]
                                                [--cases train,predict]

1. Training at 1M rows (synthetic_higgs, 100 rounds, no tune, no predict): engine local vs engine ray.
2. `mlscale predict` streaming each of `--predict-rows` rows (parquet files of 250k rows) with a model logged first:
   the driver tree's peak on engine local, and on engine ray the tree's peak and the largest single Ray
   worker, as PSS (shared object-store pages counted pro rata) and as USS (its own memory only).
   A bound that holds must not grow with the input: compare the rows of two input sizes.
Each case runs in its own `mlscale` process; a sampler reads memory every 0.25 s (psutil, /proc smaps).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MLSCALE = str(Path(sys.executable).parent / "mlscale")
# Inputs of every size share one file (and row group) size, so a bound that holds cannot hide in larger files.
ROWS_PER_FILE = 250_000
RECIPE = str(ROOT / "recipes/synthetic_higgs.yaml")

from predict_bench import input_dir  # noqa: E402


def _pss_split(pid: int) -> tuple[int, int]:
    """(Pss_Anon, Pss_File) of one process in bytes, from /proc smaps_rollup; zeros once it is gone. File
    pages (xgboost reads its external-memory cache through mmap) are clean and the kernel can drop them under
    pressure; anonymous pages cannot be dropped without swap."""
    out = {"Pss_Anon:": 0, "Pss_File:": 0}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, *rest = line.split()
            if key in out:
                out[key] = int(rest[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return out["Pss_Anon:"], out["Pss_File:"]


def _mem(p: psutil.Process) -> tuple[int, int]:
    """(PSS, USS) of one process; zeros once it is gone."""
    try:
        info = p.memory_full_info()
        return int(info.pss), int(info.uss)
    except (psutil.NoSuchProcess, psutil.AccessDenied, AttributeError):
        return 0, 0


def measure(args: list[str], cwd: Path) -> dict[str, float]:
    """Run one mlscale command; peak PSS of its process tree, and of the largest Ray worker."""
    proc = subprocess.Popen(
        [MLSCALE, *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    root = psutil.Process(proc.pid)
    largest = [""]
    peak = {
        "tree_mb": 0.0,
        "tree_anon_mb": 0.0,
        "tree_file_mb": 0.0,
        "driver_mb": 0.0,
        "largest_ray_worker_mb": 0.0,
        "largest_ray_worker_uss_mb": 0.0,
        "largest_ray_worker_anon_mb": 0.0,
        "largest_ray_worker_shmem_mb": 0.0,
    }
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            mems = {p.pid: _mem(p) for p in procs}
            named = [(mems[p.pid], _name(p)) for p in procs if p.pid != root.pid and _is_ray_worker(p)]
            workers = [m for m, _ in named]
            if named:
                uss_top, name = max(((m[1], n) for m, n in named), key=lambda t: t[0])
                if uss_top / 2**20 > peak["largest_ray_worker_uss_mb"]:
                    largest[0] = name
            for p in procs:
                if p.pid != root.pid and _is_ray_worker(p):
                    anon, shmem = _rss_split(p.pid)
                    peak["largest_ray_worker_anon_mb"] = max(peak["largest_ray_worker_anon_mb"], anon)
                    peak["largest_ray_worker_shmem_mb"] = max(peak["largest_ray_worker_shmem_mb"], shmem)
            peak["tree_mb"] = max(peak["tree_mb"], sum(m[0] for m in mems.values()) / 2**20)
            split = [_pss_split(p.pid) for p in procs]
            peak["tree_anon_mb"] = max(peak["tree_anon_mb"], sum(a for a, _ in split) / 2**20)
            peak["tree_file_mb"] = max(peak["tree_file_mb"], sum(f for _, f in split) / 2**20)
            peak["driver_mb"] = max(peak["driver_mb"], mems.get(root.pid, (0, 0))[0] / 2**20)
            peak["largest_ray_worker_mb"] = max(
                peak["largest_ray_worker_mb"], max((m[0] for m in workers), default=0) / 2**20
            )
            peak["largest_ray_worker_uss_mb"] = max(
                peak["largest_ray_worker_uss_mb"], max((m[1] for m in workers), default=0) / 2**20
            )
            time.sleep(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    started = time.perf_counter()
    sampler.start()
    _, err = proc.communicate()
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"mlscale {' '.join(args)} failed:\n{err[-3000:]}")
    return {**peak, "seconds": time.perf_counter() - started, "largest": largest[0]}  # type: ignore[dict-item]


def _rss_split(pid: int) -> tuple[float, float]:
    """(private heap RssAnon, mapped shared memory RssShmem) in MB: object-store pages a worker has touched
    stay mapped in it and count in its USS/PSS, though they belong to the store, not to the worker."""
    out = {"RssAnon:": 0.0, "RssShmem:": 0.0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, *rest = line.split()
            if key in out:
                out[key] = int(rest[0]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return out["RssAnon:"], out["RssShmem:"]


def _name(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline()[:1])[:60]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return ""


def _is_ray_worker(p: psutil.Process) -> bool:
    try:
        return any(part.startswith("ray::") for part in p.cmdline()[:1]) or "default_worker.py" in " ".join(
            p.cmdline()
        )
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-rows", type=int, default=1_000_000)
    parser.add_argument("--predict-rows", default="2000000,10000000", help="comma-separated row counts")
    parser.add_argument("--cases", default="train,predict")
    parser.add_argument("--engines", default="local,ray")
    args = parser.parse_args()
    cases = set(args.cases.split(","))
    rows: list[tuple[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        train = ["run", RECIPE, "-q", "--set", f"data.synthetic.n_rows={args.train_rows}",
                 "--set", "tune=null", "--set", "predict=null"]  # fmt: skip
        for engine in args.engines.split(",") if "train" in cases else ():
            rows.append(
                (f"train {args.train_rows:,} rows, {engine}", measure([*train, "--engine", engine], cwd))
            )
            print(rows[-1], flush=True)
        subprocess.run(
            [MLSCALE, "run", RECIPE, "-q", "--set", "data.synthetic.n_rows=200000", "--set", "tune=null",
             "--set", "predict=null", "--set", "mlflow.experiment=memory_model"],
            cwd=cwd, check=True, capture_output=True,
        )  # fmt: skip
        import mlflow

        mlflow.set_tracking_uri(f"sqlite:///{cwd}/mlflow.db")
        run_id = mlflow.search_runs(experiment_names=["memory_model"])["run_id"].iloc[0]
        for n_rows in [int(n) for n in args.predict_rows.split(",")] if "predict" in cases else []:
            source = input_dir(n_rows, files=max(8, n_rows // ROWS_PER_FILE))
            for engine in args.engines.split(","):
                predict = ["predict", RECIPE, "-q", "--model", f"runs:/{run_id}/model", "--input", str(source),
                           "--output", str(cwd / f"out_{engine}.parquet"), "--engine", engine,
                           "--set", "predict.id_columns=[row_id]"]  # fmt: skip
                rows.append((f"predict {n_rows:,} rows, {engine}", measure(predict, cwd)))
                print(rows[-1], flush=True)

    print(f"\nmachine: {os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB\n")
    print("| case | peak PSS, tree MB | driver MB | largest Ray worker: PSS MB | USS MB | heap (RssAnon) MB "
          "| object store mapped (RssShmem) MB | which | seconds |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['tree_mb']:.0f} | {r['driver_mb']:.0f} | {r['largest_ray_worker_mb']:.0f} | "
              f"{r['largest_ray_worker_uss_mb']:.0f} | {r['largest_ray_worker_anon_mb']:.0f} | "
              f"{r['largest_ray_worker_shmem_mb']:.0f} | {r['largest'] or '-'} | {r['seconds']:.1f} |")  # fmt: skip
    trained = {name.rsplit(", ", 1)[1]: r["tree_mb"] for name, r in rows if name.startswith("train ")}
    for engine in (e for e in trained if e != "local" and "local" in trained):
        print(f"\ntrain {engine} / local peak (target <= 2): {trained[engine] / trained['local']:.2f}")


if __name__ == "__main__":
    main()
