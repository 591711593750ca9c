"""The README's quick tour, as written: every line that runs on this machine alone (engine local, no
cluster, no server) is taken from README.md and run in order, so the tour stays true."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
NEEDS_A_CLUSTER = ("--engine ray", "--engine dask", "--profile configs/cluster.yaml", "--address")


def local_lines() -> list[list[str]]:
    """The quick tour's `mlscale` commands that need no cluster, as argument lists, in the README's order."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick tour\s+```bash\n(.*?)```", text, re.S)
    assert block, "README.md has a '## Quick tour' bash block"
    lines = [line for line in block[1].splitlines() if line.startswith("mlscale ")]
    return [
        shlex.split(line, comments=True)[1:] for line in lines if not any(c in line for c in NEEDS_A_CLUSTER)
    ]


def test_the_tour_covers_each_local_command() -> None:
    assert {args[0] for args in local_lines()} >= {"validate", "run", "predict", "explain", "report", "init"}


def test_the_quick_tour_runs_as_written(tmp_path, run_cli, monkeypatch) -> None:
    """New data has no target column: predict and explain score it with the shipped recipe as is."""
    shutil.copytree(ROOT / "recipes", tmp_path / "recipes")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url, *a, **k: opened.append(url) or True)
    from sklearn.datasets import load_wine

    wine = load_wine(as_frame=True).frame
    wine.drop(columns=["target"]).head(25).to_parquet(tmp_path / "new.parquet")
    wine.to_csv(tmp_path / "my_table.csv", index=False)
    run_id = ""
    for args in local_lines():
        args = [a.replace("<run_id>", run_id) for a in args]
        done = run_cli(*args, cwd=tmp_path)
        assert done.returncode == 0, (args, done.stderr[-2000:])
        if args[0] == "run":
            import mlflow

            mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
            runs = mlflow.search_runs(experiment_names=["wine"], order_by=["start_time DESC"])
            run_id = runs[runs["tags.mlflow.parentRunId"].isna()]["run_id"].iloc[0]
    scored = pd.read_parquet(tmp_path / "scored.parquet")
    assert len(scored) == 25 and "prediction" in scored.columns
    assert len(pd.read_parquet(tmp_path / "output/wine/contributions.parquet")) == 25
    assert opened and opened[0].endswith(".html")
    assert (tmp_path / "recipes/mine.yaml").is_file()
