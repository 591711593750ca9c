"""Engine ray computes SHAP values in Ray tasks on the cluster, not in the driver, and they equal the
local ones."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlscale

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[2]


def test_shap_values_come_from_the_cluster_and_equal_the_local_ones(ray_cluster, workdir):
    import ray
    import xgboost as xgb

    from mlscale.assess.explanations import contributions
    from mlscale.data import FeatureSchema
    from mlscale.engines.ray import RayEngine
    from mlscale.modeling.model import Model
    from mlscale.recipe.schema import EngineConfig

    result = mlscale.run(
        ROOT / "recipes/breast_cancer.yaml",
        overrides={"tune": None, "train.num_boost_round": 20, "evaluate.reference": "off",
                   "engine.name": "ray", "engine.address": ray_cluster},
    )  # fmt: skip
    from mlflow.tracking import MlflowClient

    placement = MlflowClient(result.tracking_uri).get_run(result.run_id).data.tags["explain.placement"]
    assert (
        placement.startswith("114@") and "@local" not in placement and f"(pid {os.getpid()})" not in placement
    )

    rng = np.random.default_rng(0)
    raw = pd.DataFrame({"a": rng.normal(size=1200), "c": rng.choice(["x", "y", "z"], 1200)})
    schema = FeatureSchema(target="t", task="binary", features=["a", "c"], categories={"c": ["x", "y", "z"]},
                           classes=[0, 1])  # fmt: skip
    x, _ = schema.frame(raw)
    label = ((raw["a"] > 0) ^ (raw["c"] == "x")).astype(int)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3}, xgb.DMatrix(x, label, enable_categorical=True), 15
    )
    engine = RayEngine(EngineConfig(name="ray", address=ray_cluster, workers=2))
    engine.start()
    try:
        explained = engine.explain(Model(booster, schema), x)
        nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    finally:
        engine.stop()
    assert [p.rows for p in explained.parts] == [600, 600]
    assert all(p.pid != os.getpid() and p.node in nodes for p in explained.parts), explained.parts
    np.testing.assert_allclose(explained.values, contributions(booster, x), rtol=1e-6, atol=1e-6)
