"""Progress: the runner's events, and the live display on a real terminal (a pty); plain logs otherwise."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
from conftest import LEAN

import mlscale

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"tune.num_samples": 3, "train.num_boost_round": 20, "predict": None, **LEAN}


def test_runner_reports_phases_and_trials_in_order(workdir):
    events: list[tuple[str, dict]] = []
    mlscale.run(
        ROOT / "recipes/breast_cancer.yaml",
        overrides=SMALL,
        progress=lambda k, i: events.append((k, dict(i))),
    )
    phases = [i["name"] for k, i in events if k == "phase"]
    assert phases[:4] == ["load", "startup", "train", "tune"]
    assert [i["name"] for k, i in events if k == "phase_done"] == phases  # every phase closes
    trials = [i for k, i in events if k == "trial"]
    assert [t["done"] for t in trials] == [1, 2, 3] and {t["total"] for t in trials} == {3}
    best = [t["best"] for t in trials]
    assert all(b is not None for b in best) and best == sorted(best, reverse=True)  # logloss: never worse
    rounds = [i for k, i in events if k == "round"]  # the baseline fit only: trials report as trials
    assert [r["round"] for r in rounds] == list(range(1, 21)) and {r["total"] for r in rounds} == {20}
    assert set(rounds[-1]["metrics"]) == {"auc", "logloss"}
    kinds = [(k, i.get("name")) for k, i in events]
    assert (
        kinds.index(("phase", "train")) < kinds.index(("round", None)) < kinds.index(("phase_done", "train"))
    )


def test_predict_reports_rows_with_a_known_total(workdir):
    events: list[tuple[str, dict]] = []
    result = mlscale.run(
        ROOT / "recipes/breast_cancer.yaml",
        overrides={"tune": None, "train.num_boost_round": 10, "predict.batch_size": 50},
        progress=lambda k, i: events.append((k, dict(i))),
    )
    rows = [i for k, i in events if k == "rows"]
    expected = len(pd.read_parquet(result.output_path))
    assert rows[0] == {"done": 0, "total": expected}
    assert [r["done"] for r in rows] == sorted(r["done"] for r in rows)  # never goes back
    assert rows[-1] == {"done": expected, "total": expected} and len(rows) == 1 + -(-expected // 50)
    kinds = [(k, i.get("name")) for k, i in events]
    assert (
        kinds.index(("phase", "predict"))
        < kinds.index(("rows", None))
        < kinds.index(("phase_done", "predict"))
    )


def test_a_broken_progress_callback_never_fails_the_run(workdir):
    def boom(kind, info):
        raise RuntimeError("display gone")

    result = mlscale.run(ROOT / "recipes/breast_cancer.yaml", overrides=SMALL, progress=boom)
    assert result.metrics["test_auc"] > 0.9


def test_terminal_gets_a_live_display_and_pipes_get_plain_lines(tmp_path):
    args = [str(Path(sys.executable).parent / "mlscale"), "run", str(ROOT / "recipes/breast_cancer.yaml"),
            "--set", "tune.num_samples=3", "--set", "train.num_boost_round=20", "--set", "predict=null"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "MLFLOW_TRACKING_URI")}
    env.update(COLUMNS="120", TERM="xterm-256color")
    leader, follower = pty.openpty()
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=120) == 0
    raw = b"".join(chunks).decode(errors="replace")
    assert "\x1b[" in raw  # a live, redrawn display
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw)
    assert "tune" in screen and "3/3" in screen, screen[-3000:]
    assert "train rounds, valid logloss" in screen and "20/20" in screen, screen[-3000:]
    plain = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 0
    assert "\x1b[" not in plain.stderr and "INFO trial" in plain.stderr  # CI logs stay readable
