"""benchmarks/autogluon_compare.py without AutoGluon: its options and the split both tools get."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from mlscale.data import prepare
from mlscale.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks import autogluon_compare  # noqa: E402
from benchmarks.quality import suite, tables  # noqa: E402


def test_the_defaults_are_the_issues_comparison() -> None:
    args = autogluon_compare.parse_args([])
    assert (args.trials, args.time_limit, args.side) == (16, 150, "compare")
    assert set(args.cases.split(",")) >= set(suite.DATES_AND_TEXT)
    assert all(case in suite.CASES for case in args.cases.split(","))
    other = autogluon_compare.parse_args(["--cases", "loans_rate", "--time-limit", "30"])
    assert (other.cases, other.time_limit) == ("loans_rate", 30)


def test_autogluon_gets_mlscales_train_and_valid_rows_and_is_scored_on_its_test_rows(tmp_path: Path) -> None:
    table = tables.write(["fine_foods"], tmp_path)["fine_foods"]
    split_dir = tmp_path / "split"
    split_dir.mkdir()
    spec = autogluon_compare.write_split("fine_foods_score", split_dir, data_path=table)
    assert spec == json.loads((split_dir / "spec.json").read_text())
    assert (spec["label"], spec["task"], spec["rows"]) == ("score", "binary", 4000)
    recipe = load_recipe(suite.recipe_path("fine_foods_score"))
    data = prepare(recipe.model_copy(update={"data": recipe.data.model_copy(update={"path": str(table)})}))
    train, test = pd.read_parquet(split_dir / "train.parquet"), pd.read_parquet(split_dir / "test.parquet")
    assert list(test.columns) == ["review", "score"]  # the features and the raw target; `product` left out
    assert test["review"].tolist() == data.test_frame["review"].tolist()
    assert len(train) == data.n_train + len(data.x_valid)
    assert len(train) + len(test) == spec["rows"]
