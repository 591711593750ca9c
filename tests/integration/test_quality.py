"""Model quality on real tables: mlscale's default recipe, on both engines, against two baselines.

The smaller tables of benchmarks/quality/ (the whole suite, with timings: benchmarks/quality_bench.py).
The bar: mlscale's test metric >= the better of HistGradientBoosting defaults and plain xgboost defaults
- 0.5 points of AUC / accuracy, or RMSE within 2 %; ray within the parity tolerance of local.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import mlscale
from mlscale.data import load_table, prepare

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.quality import suite, tables  # noqa: E402

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def table_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("quality")
    tables.write(sorted({suite.CASES[c] for c in suite.SMALL}), out)
    return out


@pytest.mark.parametrize("case", suite.SMALL)
def test_default_model_matches_the_baselines_on_both_engines(case, table_dir, ray_cluster, workdir):
    path = str(table_dir / f"{suite.CASES[case]}.parquet")
    lean = {"evaluate.plots": False, "evaluate.explain.enabled": False}  # the reference is looked at below
    local = mlscale.run(suite.recipe_path(case), overrides={"data.path": path, **lean})
    ray = mlscale.run(
        suite.recipe_path(case),
        overrides={
            **lean,
            "data.path": path,
            "engine.name": "ray",
            "engine.address": ray_cluster,
            "engine.workers": 2,
            "evaluate.reference": "off",
        },
    )
    data = prepare(local.recipe, source=case)
    task = data.schema.task
    metric = suite.primary(task)
    scores = suite.baselines(data, load_table(local.recipe.data, source=case))
    best = suite.better(scores["hgb"].value, scores["xgb"].value, metric)
    ours = {"local": local.metrics[f"test_{metric}"], "ray": ray.metrics[f"test_{metric}"]}
    for engine, value in ours.items():
        assert suite.acceptable(value, best, metric), (
            case,
            engine,
            value,
            {k: s.value for k, s in scores.items()},
        )
    if metric == "rmse":
        assert abs(ours["ray"] - ours["local"]) / ours["local"] <= 0.02, ours
    else:
        assert abs(ours["ray"] - ours["local"]) <= 0.005, ours
    # the run's own reference check agrees: no warning, and its score is logged
    assert local.quality_warning is None
    assert f"reference_test_{metric}" in mlscale_metrics(local)


def mlscale_metrics(result) -> dict[str, float]:
    from mlflow.tracking import MlflowClient

    return MlflowClient(result.tracking_uri).get_run(result.run_id).data.metrics
