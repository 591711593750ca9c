"""Every engine behaves the same where the user can tell: the same refusals with the same one-line
messages and exit codes, predictions within the documented tolerance of engine `local` (rtol 1e-5,
atol 1e-6 with one training worker), Ctrl-C ends the run KILLED, a partitioned output has the same
manifest, and nothing is left behind: no process, no temp file, no listener beyond 127.0.0.1.

The engines: the test-only toy (tests/toy_engine.py), `local`, `ray` on the session's 2-node cluster and
`dask` on the session's scheduler with 2 workers (one training worker each, so that the model is the one
`local` trains). A new engine joins by adding its name to
ENGINES and how to reach it to `engine`. (No conftest.py here: the tests import the root one as `conftest`.)"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
import pytest

import mlscale
from mlscale.engine_names import register_engine, unregister_engine

ENGINES = [
    pytest.param("toy", id="toy"),
    pytest.param("local", id="local"),
    pytest.param("ray", id="ray", marks=pytest.mark.ray),
    pytest.param("dask", id="dask", marks=pytest.mark.dask),
]


@dataclass(frozen=True)
class EngineUnderTest:
    name: str
    overrides: dict[str, Any] = field(default_factory=dict)  # what a recipe needs to run on it here

    def sets(self) -> list[str]:
        """The overrides as `--set` arguments."""
        return [part for key, value in self.overrides.items() for part in ("--set", f"{key}={value}")]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Iterator[EngineUnderTest]:
    name = request.param
    if name == "toy":
        register_engine("toy", "toy_engine:ToyEngine")
        try:
            yield EngineUnderTest("toy", {"engine.name": "toy"})
        finally:
            unregister_engine("toy")
    elif name == "ray":
        address = request.getfixturevalue("ray_cluster")
        yield EngineUnderTest(
            "ray", {"engine.name": "ray", "engine.workers": 1, "engine.ray.address": address}
        )
    elif name == "dask":
        address = request.getfixturevalue("dask_cluster").address
        yield EngineUnderTest(
            "dask", {"engine.name": "dask", "engine.workers": 1, "engine.dask.address": address}
        )
    else:
        yield EngineUnderTest("local", {"engine.name": "local"})


RECIPE = """\
name: conformance
data: {source: csv, path: train.csv, target: label}
train: {num_boost_round: 20, early_stopping_rounds: null}
evaluate: {reference: off, explain: {enabled: false}}
predict: {output: out/pred.parquet, id_columns: [row_id]}
"""


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with its own store, temp directory and a small binary table."""
    from sklearn.datasets import make_classification

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    monkeypatch.setenv("TMPDIR", str(private))
    monkeypatch.setenv("MLSCALE_HOME", str(tmp_path / "home"))
    x, y = make_classification(n_samples=600, n_features=6, random_state=3)
    table = pd.DataFrame(x, columns=[f"f{i}" for i in range(6)]).assign(label=y, row_id=range(600))
    table = _with_date_and_text(table)
    table.to_csv(tmp_path / "train.csv", index=False)
    (tmp_path / "new").mkdir()
    for i in range(2):
        table.drop(columns=["label"]).iloc[i * 100 : (i + 1) * 100].to_parquet(
            tmp_path / f"new/part{i}.parquet"
        )
    (tmp_path / "r.yaml").write_text(RECIPE)
    return tmp_path


def _with_date_and_text(table: pd.DataFrame) -> pd.DataFrame:
    """A `M/D/YYYY` date and a free-text column that carry some of the label (typed datetime and text,
    so every engine's workers apply the derived features); a few dates no format parses."""
    rng = np.random.default_rng(3)
    days = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 700, len(table)), unit="D")
    words = np.array(["late", "early", "box", "blue", "fine", "slow", "part", "good", "desk", "call"])
    remarks = [
        " ".join([*rng.choice(words, rng.integers(3, 7)), *(["cracked"] if y and rng.random() < 0.6 else [])])
        for y in table["label"]
    ]
    when = [f"{d.month}/{d.day}/{d.year}" for d in days]
    when[:5] = ["unknown"] * 5
    return table.assign(when=when, remarks=remarks)


def _run(engine: EngineUnderTest, **more: Any) -> mlscale.RunResult:
    return mlscale.run("r.yaml", overrides={"data.exclude": ["row_id"], **engine.overrides, **more})


REFUSALS = {
    "unknown target": ["--set", "data.target=nope"],
    "metric of another task": ["--set", "train.eval_metric=[rmse]"],
    "output that is an input": ["--set", "predict.output=train.csv"],
    "tune metric not measured": [
        "--set",
        "tune.space={eta: {uniform: [0.05, 0.3]}}",
        "--set",
        "tune.metric=valid_rmse",
    ],
}


@pytest.mark.parametrize("args", REFUSALS.values(), ids=REFUSALS.keys())
def test_the_same_bad_input_is_the_same_one_line_refusal(engine, work, run_cli, args) -> None:
    here = run_cli("run", "r.yaml", "-q", *engine.sets(), *args, cwd=work)
    on_local = run_cli("run", "r.yaml", "-q", "--set", "engine.name=local", *args, cwd=work)
    assert (here.returncode, here.stderr) == (on_local.returncode, on_local.stderr)
    assert here.returncode == 2 and len(here.stderr.strip().splitlines()) == 1
    assert not (work / "out").exists()


def test_predictions_agree_with_local_and_nothing_is_left_behind(engine, work) -> None:
    children = {p.pid for p in psutil.Process().children(recursive=True)}
    before = sorted(os.listdir(tempfile.gettempdir()))
    here = pd.read_parquet(_run(engine).output_path)
    assert sorted(os.listdir(tempfile.gettempdir())) == before
    left = [p for p in psutil.Process().children(recursive=True) if p.pid not in children]
    assert left == []
    assert _listening_beyond_loopback() == []
    local = pd.read_parquet(
        _run(EngineUnderTest("local"), **{"predict.output": "out/local.parquet"}).output_path
    )
    pd.testing.assert_frame_equal(here, local, check_exact=False, rtol=1e-5, atol=1e-6)


def _listening_beyond_loopback() -> list[str]:
    me = psutil.Process()
    pids = {me.pid, *(p.pid for p in me.children(recursive=True))}
    listening = [
        c for c in psutil.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN and c.pid in pids
    ]
    loopback = ("::1", "::ffff:127.0.0.1")
    return [
        f"{c.pid} {c.laddr.ip}:{c.laddr.port}"
        for c in listening
        if not (c.laddr.ip.startswith("127.") or c.laddr.ip in loopback)
    ]


def test_a_partitioned_output_has_the_same_manifest(engine, work) -> None:
    result = _run(engine)
    assert result.model_uri is not None
    manifests = {}
    for name, eng in (("here", engine), ("local", EngineUnderTest("local", {"engine.name": "local"}))):
        out = mlscale.predict(  # absolute paths: the ray nodes' tasks run in working directories of their own
            "r.yaml",
            model=result.model_uri,
            input=str(work / "new"),
            output=f"{work}/parts-{name}/",
            overrides=eng.overrides,
        )
        manifests[name] = json.loads((out / "_manifest.json").read_text())
    here, local = manifests["here"], manifests["local"]
    assert sorted(here) == sorted(local)
    assert (here["format"], here["columns"]) == (local["format"], local["columns"])
    assert [(f["source"], f["rows"]) for f in here["files"]] == [
        (f["source"], f["rows"]) for f in local["files"]
    ]
    assert here["rows"] == local["rows"] == 200


def test_ctrl_c_ends_the_run_killed(engine, work) -> None:
    """SIGINT a second into a long training: the run is marked KILLED and KeyboardInterrupt reaches the caller."""
    from mlflow.tracking import MlflowClient

    def interrupt_soon(kind: str, info: Any) -> None:
        if kind == "phase" and info.get("name") == "train":
            threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()

    # Ctrl-C as in a terminal: a shell's background job inherits SIGINT ignored, and then it raises nothing
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            mlscale.run(
                "r.yaml",
                overrides={"data.exclude": ["row_id"], **engine.overrides, "train.num_boost_round": 100_000},
                progress=interrupt_soon,
            )
    finally:
        signal.signal(signal.SIGINT, previous)
    client = MlflowClient(f"sqlite:///{work}/mlflow.db")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert [r.info.status for r in runs] == ["KILLED"]
