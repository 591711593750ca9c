"""Scoring threads and what they write: a model copy per thread, class labels of their own type, parquet
output with dictionaries only for text."""

from __future__ import annotations

import json
import threading

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from mlscale.data import prepare
from mlscale.engines.local import LocalEngine
from mlscale.recipe.load import validate
from mlscale.recipe.schema import EngineConfig
from mlscale.scoring.partitioned import TableSink
from mlscale.scoring.threads import ThreadModels, scoring_threads


def _model(labels: list):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=300), "z": rng.normal(size=300)})
    frame["y"] = np.asarray(labels, dtype=object)[
        (frame["x"] > 0).astype(int) + (len(labels) > 2) * (frame["z"] > 0)
    ]
    recipe = validate(
        {
            "name": "t",
            "data": {"source": "csv", "path": "u.csv", "target": "y"},
            "train": {"num_boost_round": 5},
        },
        source="r.yaml",
    )
    return LocalEngine(EngineConfig()).train(
        prepare(recipe, frame, source="r.yaml"), recipe.train
    ).model, frame


@pytest.mark.parametrize(
    ("labels", "kind"),
    [([0, 1], "i"), (["no", "yes"], "O"), ([False, True], "b"), ([0.5, 2.5], "f"), (["a", "b", "c"], "O")],
)
def test_predicted_labels_keep_their_type(labels, kind) -> None:
    model, frame = _model(labels)
    out, _ = model.predict_frame(frame.drop(columns=["y"]))
    assert out["prediction"].dtype.kind == kind
    assert set(out["prediction"]) <= set(labels) and len(set(out["prediction"])) > 1
    assert (out["prediction"] == frame["y"]).mean() > 0.9


def test_each_thread_scores_with_its_own_copy_and_thread_count() -> None:
    model, frame = _model([0, 1])
    model.booster.set_param({"nthread": 3})
    models = ThreadModels(model, nthread=1)
    copies: list = []
    threads = [threading.Thread(target=lambda: copies.append(models.get())) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in copies}) == 3 and all(c.booster is not model.booster for c in copies)
    assert models.get() is models.get()  # the same copy again in one thread
    assert {json.loads(c.booster.save_config())["learner"]["generic_param"]["nthread"] for c in copies} == {
        "1"
    }
    assert json.loads(model.booster.save_config())["learner"]["generic_param"]["nthread"] == "3"
    x, _ = model.schema.frame(frame)
    np.testing.assert_array_equal(copies[0].raw_predict(x), model.raw_predict(x))


def test_scoring_threads_share_out_the_cpus() -> None:
    assert scoring_threads(2) == (2, 1)
    assert scoring_threads(16) == (8, 2)
    assert scoring_threads(32) == (8, 4)  # at most 8 threads, the CPUs shared out
    assert scoring_threads(0) == (1, 1)


def test_parquet_output_uses_dictionaries_for_text_only(tmp_path) -> None:
    sink = TableSink(tmp_path / "p.parquet", "parquet")
    sink.write(pd.DataFrame({"id": np.arange(1000), "prediction": ["yes", "no"] * 500,
                             "probability": np.linspace(0, 1, 1000)}))  # fmt: skip
    sink.close()
    meta = pq.ParquetFile(tmp_path / "p.parquet").metadata.row_group(0)
    encodings = {meta.column(i).path_in_schema: meta.column(i).encodings for i in range(meta.num_columns)}
    assert any("DICTIONARY" in e for e in encodings["prediction"])
    assert not any("DICTIONARY" in e for e in encodings["id"] + encodings["probability"])
