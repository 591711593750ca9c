"""xgboost alone: anonymous memory of CPU external-memory training by cache page size.

    .venv/bin/python benchmarks/extmem_pages.py [--rows 4000000] [--pages 65536,262144,1048576]

Per page size, a fresh process builds an `ExtMemQuantileDMatrix` from a `DataIter` of synthetic float32
batches (28 features, one page per batch, cache in a temp dir) and trains 100 rounds at depth 8; it prints
the process's Pss_Anon (/proc smaps_rollup) after the last round. No mlscale code runs: this isolates what
xgboost keeps per page and per row (the reason `mlscale.data.batches.batch_rows` makes large batches).
"""

from __future__ import annotations

import argparse
import subprocess
import sys

CHILD = r"""
import sys, tempfile
import numpy as np, xgboost as xgb

def anon_mb():
    for line in open("/proc/self/smaps_rollup"):
        if line.startswith("Pss_Anon:"):
            return int(line.split()[1]) // 1024

rows, page, features = int(sys.argv[1]), int(sys.argv[2]), 28

class Batches(xgb.DataIter):
    def __init__(self, cache):
        self.i = 0
        super().__init__(cache_prefix=cache + "/c", release_data=True)
    def next(self, input_data):
        if self.i * page >= rows:
            return False
        n = min(page, rows - self.i * page)
        rng = np.random.default_rng(self.i)
        x = rng.normal(size=(n, features)).astype(np.float32)
        input_data(data=x, label=(x[:, 0] + rng.logistic(size=n) > 0).astype(np.float32))
        self.i += 1
        return True
    def reset(self):
        self.i = 0

with tempfile.TemporaryDirectory() as cache:
    matrix = xgb.ExtMemQuantileDMatrix(Batches(cache), max_bin=256, nthread=2)
    params = {"tree_method": "hist", "max_depth": 8, "eta": 0.1, "objective": "binary:logistic", "nthread": 2}
    booster = xgb.train(params, matrix, 100)
    print(anon_mb())
    del booster, matrix
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--pages", default="65536,262144,1048576")
    args = parser.parse_args()
    print(f"xgboost alone, {args.rows:,} rows x 28 float32, 100 rounds, depth 8\n")
    print("| rows per page | pages | anonymous MB after training |")
    print("|---|---|---|")
    for page in (int(p) for p in args.pages.split(",")):
        out = subprocess.run([sys.executable, "-c", CHILD, str(args.rows), str(page)],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
        print(f"| {page:,} | {-(-args.rows // page)} | {out.strip()} |", flush=True)


if __name__ == "__main__":
    main()
