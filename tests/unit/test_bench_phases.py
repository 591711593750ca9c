"""`mlscale bench` / `mlscale compare` tables: every timed phase a run logs is a row, the scale-up wait too."""

from __future__ import annotations

import pandas as pd

from mlscale.workflow.bench import summarize


def test_the_scale_up_wait_is_a_row_of_its_own():
    runs = pd.DataFrame(
        {
            "engine": ["local", "ray"],
            "time_startup_s": [0.1, 2.0],
            "time_scale_s": [None, 30.0],
            "time_train_s": [5.0, 3.0],
            "test_auc": [0.99, 0.99],
        }
    )
    table = summarize(runs, group=["engine"])
    scale = table[table["phase"] == "scale"]
    assert scale[["engine", "median_s"]].values.tolist() == [["ray", 30.0]]
    assert table[table["engine"] == "ray"]["phase"].tolist() == [
        "startup",
        "scale",
        "train",
    ]  # as the run goes
