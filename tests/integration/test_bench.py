"""`mlscale bench` and `mlscale compare` on tiny sizes: the table, CSV, markdown and PNG make sense."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
MLSCALE = str(Path(sys.executable).parent / "mlscale")

pytestmark = pytest.mark.ray


def test_bench_then_compare(ray_cluster, workdir):
    done = subprocess.run(
        [MLSCALE, "bench", str(ROOT / "recipes/synthetic_higgs.yaml"), "--engines", "local,ray",
         "--rows", "2000,4000", "--phases", "train,predict", "--set", f"engine.address={ray_cluster}",
         "--set", "train.num_boost_round=20", "--out", "bench"],
        cwd=workdir, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    table = pd.read_csv(workdir / "bench/table.csv")
    assert set(table["engine"]) == {"local", "ray"}
    assert set(table["rows"]) == {2000, 4000}
    assert {"load", "startup", "train", "predict", "total"} <= set(table["phase"])
    assert (table["min_s"] <= table["median_s"]).all() and (table["median_s"] <= table["max_s"]).all()
    local_train = table[(table["engine"] == "local") & (table["phase"] == "train")]
    assert (local_train["ratio_vs_local"] == 1.0).all()
    assert table["quality"].between(0.5, 1.0).all()  # speed is never reported without the score
    runs = pd.read_csv(workdir / "bench/runs.csv")
    assert list(runs["engine"]) == ["local", "ray", "local", "ray"]  # alternating A B A B
    png = (workdir / "bench/chart.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert "ratio_vs_local" in (workdir / "bench/table.md").read_text()

    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{workdir}/mlflow.db")
    all_runs = mlflow.search_runs(experiment_names=["synthetic_higgs"])
    parent = all_runs[all_runs["tags.mlscale.bench"] == "true"]
    assert len(parent) == 1
    children = all_runs[all_runs["tags.mlflow.parentRunId"] == parent["run_id"].iloc[0]]
    assert len(children) == 4 and children["metrics.peak_rss_mb"].gt(0).all()

    done = subprocess.run([MLSCALE, "compare", "--experiment", "synthetic_higgs", "--out", "cmp"], cwd=workdir,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    cmp = pd.read_csv(workdir / "cmp/table.csv")
    assert set(cmp["engine"]) == {"local", "ray"}
    assert cmp[cmp["phase"] == "train"]["n"].sum() == 4
    assert (workdir / "cmp/chart.png").stat().st_size > 5000
