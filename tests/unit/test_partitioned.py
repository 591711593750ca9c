"""Partitioned prediction output on engine local: one part per input file, in order, committed as a whole
with a manifest written last; a rerun replaces it, a crash leaves the previous result."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlscale import RecipeError
from mlscale.data import prepare
from mlscale.engines.local import LocalEngine
from mlscale.recipe.load import validate
from mlscale.recipe.schema import EngineConfig, PredictConfig
from mlscale.scoring.partitioned import MANIFEST, PartitionedOutput, read_manifest, write_part
from mlscale.scoring.predict import predict_in_process
from mlscale.workflow.outputs import check_output


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"row_id": np.arange(n) + seed * 1000, "x": rng.normal(size=n),
                          "colour": rng.choice(["r", "g", "b"], n)})  # fmt: skip
    frame["label"] = ((frame["x"] > 0) ^ (frame["colour"] == "r")).astype(int)
    return frame


@pytest.fixture
def setup(tmp_path: Path):
    recipe = validate(
        {"name": "t", "data": {"source": "csv", "path": "u.csv", "target": "label", "exclude": ["row_id"]},
         "train": {"num_boost_round": 10}},
        source="r.yaml",
    )  # fmt: skip
    data = prepare(recipe, _table(400, 0), source="r.yaml")
    model = LocalEngine(EngineConfig()).train(data, recipe.train).model
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i, n in enumerate((120, 1, 75)):
        _table(n, i + 1).drop(columns=["label"]).to_parquet(inputs / f"f{i}.parquet")
    return model, inputs, tmp_path


def _predict(model, inputs: Path, out: str, **kw):
    config = PredictConfig(input=str(inputs), output=out, id_columns=["row_id"], batch_size=50, **kw)
    return LocalEngine(EngineConfig()).predict(model, config, data=None, where="r.yaml: predict")


def test_one_file_and_a_partitioned_output_have_the_same_manifest(setup) -> None:
    model, inputs, tmp = setup
    _predict(model, inputs, f"{tmp}/scored/")
    _predict(model, inputs, f"{tmp}/one/scored.parquet")
    parts, one = read_manifest(tmp / "scored"), read_manifest(tmp / "one" / "scored.parquet")
    assert set(one) == set(parts) and set(one["files"][0]) == set(parts["files"][0])
    assert {k: one[k] for k in ("format", "rows", "columns")} == {
        k: parts[k] for k in ("format", "rows", "columns")
    }
    assert [(f["file"], f["rows"]) for f in one["files"]] == [("scored.parquet", 196)]
    assert (tmp / "one" / "scored.parquet.manifest.json").is_file()  # beside the file, not inside a folder


def test_one_part_per_input_file_in_order_with_a_manifest(setup) -> None:
    model, inputs, tmp = setup
    result = _predict(model, inputs, f"{tmp}/scored/")
    out = tmp / "scored"
    assert result.output == out and result.rows == 196
    manifest = read_manifest(out)
    assert [f["file"] for f in manifest["files"]] == [
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    assert [f["rows"] for f in manifest["files"]] == [120, 1, 75]
    assert [Path(f["source"]).name for f in manifest["files"]] == ["f0.parquet", "f1.parquet", "f2.parquet"]
    assert manifest["rows"] == 196 and manifest["columns"] == ["row_id", "prediction", "probability"]
    for i, f in enumerate(manifest["files"]):
        part = pd.read_parquet(out / f["file"])
        expected = pd.read_parquet(inputs / f"f{i}.parquet")
        assert part["row_id"].tolist() == expected["row_id"].tolist()  # every row once, in input order
        single, _ = model.predict_frame(expected, id_columns=["row_id"])
        np.testing.assert_allclose(part["probability"], single["probability"])
    assert sorted(p.name for p in tmp.iterdir()) == ["in", "scored"]  # no temp directory left


def test_a_rerun_replaces_the_result_and_a_crash_keeps_the_previous_one(setup, monkeypatch) -> None:
    model, inputs, tmp = setup
    _predict(model, inputs, str(tmp / "scored"), partitioned=True, format="csv")
    assert sorted(p.name for p in (tmp / "scored").iterdir())[0] == MANIFEST
    before = (tmp / "scored" / MANIFEST).read_text()
    (inputs / "f1.parquet").unlink()
    calls = {"n": 0}
    real = type(model).predict_frame

    def failing(self, frame, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("killed mid-write")
        return real(self, frame, **kw)

    monkeypatch.setattr(type(model), "predict_frame", failing)
    with pytest.raises(RuntimeError):
        _predict(model, inputs, str(tmp / "scored"), partitioned=True, format="csv")
    assert (tmp / "scored" / MANIFEST).read_text() == before  # the previous result, whole
    assert sorted(p.name for p in tmp.iterdir()) == ["in", "scored"]
    monkeypatch.setattr(type(model), "predict_frame", real)
    _predict(model, inputs, str(tmp / "scored"), partitioned=True, format="csv")
    manifest = json.loads((tmp / "scored" / MANIFEST).read_text())
    assert [f["rows"] for f in manifest["files"]] == [120, 75]
    assert sorted(os.listdir(tmp / "scored")) == [MANIFEST, "part-00000.csv", "part-00001.csv"]


def test_a_dead_writers_temp_directory_is_removed(setup) -> None:
    model, inputs, tmp = setup
    stale = tmp / f".scored.tmp-{os.uname().nodename}-999999999"
    stale.mkdir()
    (stale / "part-00000.parquet").write_text("half")
    _predict(model, inputs, f"{tmp}/scored/")
    assert not stale.exists()


def test_the_temporary_directory_is_private_under_a_drawn_name(tmp_path: Path) -> None:
    target = PartitionedOutput(tmp_path / "scored", "parquet")
    with target:
        assert target.tmp.name.startswith(f".scored.tmp-{socket.gethostname()}-{os.getpid()}.")
        assert stat.S_IMODE(os.lstat(target.tmp).st_mode) == 0o700  # no one else lists or plants parts
        target.commit([write_part([_table(3, 0)], target.tmp, 0, "parquet")])
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "scored").stat().st_mode) == 0o777 & ~mask  # as mkdir would make it
    assert len(pd.read_parquet(tmp_path / "scored" / "part-00000.parquet")) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scored"]


def test_output_checks_for_a_partitioned_output(tmp_path: Path) -> None:
    data = validate({"name": "t", "data": {"source": "csv", "path": "u.csv"}}, source="r").data
    folder = tmp_path / "existing"
    folder.mkdir()
    (folder / "keep.txt").write_text("user data")
    with pytest.raises(RecipeError, match=r"exists and is not a partitioned prediction output"):
        check_output(PredictConfig(output=f"{folder}/"), data, where="r.yaml: predict")
    (folder / MANIFEST).write_text("{}")  # an earlier result: may be replaced
    check_output(PredictConfig(output=f"{folder}/"), data, where="r.yaml: predict")
    inputs = tmp_path / "scored"
    inputs.mkdir()
    (inputs / MANIFEST).write_text("{}")
    (inputs / "part-00000.parquet").write_text("x")
    with pytest.raises(RecipeError, match=r"holds the predict input file"):
        check_output(PredictConfig(input=str(inputs / "part-00000.parquet"), output=f"{inputs}/"), data,
                     where="r.yaml: predict")  # fmt: skip


def test_parts_scored_on_several_threads_are_those_of_one_thread(setup) -> None:
    """Batches of several files scored on four threads (across file boundaries, an empty file among them)
    give the parts one thread gives: same files, rows, order and predictions."""
    model, inputs, tmp = setup
    _table(0, 9).drop(columns=["label"]).to_parquet(inputs / "f1b.parquet")  # no rows at all
    threads: dict[int, set[int]] = {1: set(), 4: set()}
    first_four = threading.Barrier(4, timeout=10)  # the first four batches are scored at the same time
    calls = iter(range(1000))

    results = {}
    for cpus in (1, 4):

        def scorer(m, frame, cpus=cpus, **kw):
            threads[cpus].add(threading.get_ident())
            if cpus == 4 and next(calls) < 4:
                first_four.wait()
            return m.predict_frame(frame, **kw)

        config = PredictConfig(input=str(inputs), output=f"{tmp}/scored{cpus}/", id_columns=["row_id"],
                               batch_size=20)  # fmt: skip
        results[cpus] = predict_in_process(model, config, test_frame=None, where="r.yaml: predict",
                                           scorer=scorer, cpus=cpus)  # fmt: skip
    assert results[1].rows == results[4].rows == 196
    assert (len(threads[1]), len(threads[4])) == (1, 4)
    one, four = read_manifest(tmp / "scored1"), read_manifest(tmp / "scored4")
    assert [f["rows"] for f in four["files"]] == [f["rows"] for f in one["files"]] == [120, 1, 0, 75]
    for f in one["files"]:
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp / "scored4" / f["file"]), pd.read_parquet(tmp / "scored1" / f["file"])
        )
