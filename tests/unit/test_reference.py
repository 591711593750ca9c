"""The reference check: HistGradientBoosting defaults on the run's own split, and the warning it raises."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlscale.assess.reference import ReferenceResult, fit_reference, shortfall
from mlscale.data import prepare
from mlscale.recipe.load import validate

ROOT = Path(__file__).resolve().parents[2]


def ref(split: str = "test", **metrics: float) -> ReferenceResult:
    return ReferenceResult(
        model="HGB", split=split, metrics=metrics, rows=10, seconds=0.1, scored=100_000, minority=50_000
    )


def test_shortfall_by_task() -> None:
    assert shortfall("binary", {"test_auc": 0.80}, ref(auc=0.805)) is None  # within one point
    line = shortfall("binary", {"test_auc": 0.726}, ref(auc=0.786))
    assert line is not None and line.startswith("test_auc 0.7260 is 6.0 points lower than a default HGB")
    assert shortfall("multiclass", {"test_accuracy": 0.90}, ref(accuracy=0.92)) is not None
    assert shortfall("regression", {"test_rmse": 10.1}, ref(rmse=10.0)) is None  # 1 % higher
    line = shortfall("regression", {"test_rmse": 10.3}, ref(rmse=10.0))
    assert line is not None and "3.0 % higher" in line
    assert shortfall("regression", {"valid_rmse": 10.3}, ref("valid", rmse=10.0)) is not None
    assert shortfall("binary", {"test_auc": float("nan")}, ref(auc=0.9)) is None


def test_a_small_split_does_not_warn_on_noise() -> None:
    """36 test rows: one row is 2.8 points of accuracy (wine): within the sampling error, no warning."""
    small = ReferenceResult(
        model="HGB", split="test", metrics={"accuracy": 1.0}, rows=100, seconds=0.1, scored=36
    )
    assert shortfall("multiclass", {"test_accuracy": 0.9722}, small) is None
    assert shortfall("multiclass", {"test_accuracy": 0.80}, small) is not None  # 20 points is not noise
    few_positives = ReferenceResult(
        model="HGB", split="test", metrics={"auc": 0.95}, rows=100, seconds=0.1, scored=1000, minority=10
    )
    assert shortfall("binary", {"test_auc": 0.80}, few_positives) is None


def _table(n: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    shop = rng.integers(0, 400, n)  # more levels than HistGradientBoosting takes as categories
    colour = rng.choice(["r", "g", "b"], n)
    x = rng.normal(size=n)
    label = np.select([x > 0.8, colour == "r"], ["high", "red"], "other")
    return pd.DataFrame({"shop": [f"s{i}" for i in shop], "colour": colour, "x": x, "label": label})


def test_reference_fits_on_a_capped_sample_with_large_native_categoricals() -> None:
    recipe = validate(
        {"name": "t", "data": {"source": "csv", "path": "u.csv", "target": "label",
                               "categorical_encoding": "native"}},
        source="r.yaml",
    )  # fmt: skip
    data = prepare(recipe, _table(), source="r.yaml")
    assert data.schema.task == "multiclass"
    result = fit_reference(data, max_rows=500, seed=0)
    assert result.rows == 500
    assert result.model == "HistGradientBoostingClassifier"
    assert set(result.metrics) == {"mlogloss", "accuracy", "f1_macro"}
    assert result.metrics["accuracy"] > 0.9
    assert set(result.logged()) == {
        "reference_test_mlogloss",
        "reference_test_accuracy",
        "reference_test_f1_macro",
    }


def test_a_run_clearly_worse_than_the_reference_says_so(workdir, capsys, cli_state) -> None:
    from mlflow.tracking import MlflowClient

    from mlscale.cli import main

    recipe = ROOT / "recipes/synthetic_higgs.yaml"  # 20,000 rows: 3,000 test rows, far from noise
    args = ["run", str(recipe), "--set", "tune=null", "--set", "predict=null", "-q",
            "--set", "data.synthetic.n_rows=20000",
            "--set", "train.num_boost_round=1", "--set", "train.max_depth=1"]  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    warning = [line for line in out.splitlines() if line.startswith("warning: test_auc")]
    assert len(warning) == 1 and "than a default HistGradientBoostingClassifier" in warning[0]
    client = MlflowClient(f"sqlite:///{workdir}/mlflow.db")
    run = client.search_runs([client.get_experiment_by_name("synthetic_higgs").experiment_id])[0]
    assert run.data.tags["mlscale.quality_warning"] == warning[0].removeprefix("warning: ")
    assert run.data.metrics["reference_test_auc"] > run.data.metrics["test_auc"]
    assert "time_reference_s" in run.data.metrics

    main_args = [*args, "--set", "evaluate.reference=off"]
    with pytest.raises(SystemExit):
        main(main_args)
    assert "warning:" not in capsys.readouterr().out
