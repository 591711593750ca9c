"""The ray engine against a real 2-node cluster (1 CPU per node) with token auth on."""

from __future__ import annotations

import pandas as pd
import pytest

import mlscale
from mlscale.tracking import load_model

pytestmark = pytest.mark.ray

RECIPES = "recipes"
SMALL = {"tune.num_samples": 3, "train.num_boost_round": 60}


def _run(name: str, **overrides):
    if name == "diabetes":  # no tune section
        overrides = {k: v for k, v in overrides.items() if not k.startswith("tune.")}
    return mlscale.run(f"{mlscale_root()}/{RECIPES}/{name}.yaml", overrides=overrides)


def mlscale_root() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parents[2])


@pytest.fixture(scope="module")
def local_results(tmp_path_factory):
    """Local-engine reference metrics for the parity checks."""
    import os

    os.chdir(tmp_path_factory.mktemp("local"))
    return {name: _run(name, **SMALL) for name in ("breast_cancer", "wine", "diabetes")}


@pytest.mark.parametrize("name", ["breast_cancer", "wine", "diabetes"])
def test_parity_and_placement(name, ray_cluster, local_results, workdir):
    result = _run(name, **SMALL, **{"engine.name": "ray", "engine.address": ray_cluster, "engine.workers": 2})
    assert result.cluster.nodes == 2
    ref = local_results[name]
    for key, value in ref.metrics.items():
        if not key.startswith("test_"):
            continue
        if key.endswith(("auc", "accuracy")):
            assert abs(result.metrics[key] - value) <= 0.005 + 0.03, (key, result.metrics[key], value)
        if key.endswith("rmse"):
            assert abs(result.metrics[key] - value) / value <= 0.10, (key, result.metrics[key], value)
    client = _client(result)
    run = client.get_run(result.run_id)
    placement = run.data.tags["train.placement"].split(";")
    assert len(placement) == 2 and len({p.split("@")[1] for p in placement}) == 2  # one worker per node
    children = client.search_runs(
        [run.info.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{result.run_id}'"
    )
    assert len(children) == (0 if name == "diabetes" else 3)
    out = (
        pd.read_parquet(result.output_path)
        if str(result.output_path).endswith("parquet")
        else pd.read_csv(result.output_path)
    )
    local_out = ref.output_path
    assert len(out) == len(
        pd.read_parquet(local_out) if str(local_out).endswith("parquet") else pd.read_csv(local_out)
    )


def _client(result):
    from mlflow.tracking import MlflowClient

    return MlflowClient(result.tracking_uri)


def test_predict_actors_on_both_nodes(ray_cluster, workdir):
    """Ray Data inference from a parquet directory spreads its actor pool over both nodes."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame.insert(0, "row_id", range(len(frame)))
    (workdir / "in").mkdir()
    for i in range(4):
        frame.iloc[i::4].to_parquet(workdir / "in" / f"part{i}.parquet")
    trained = mlscale.run(
        f"{mlscale_root()}/recipes/breast_cancer.yaml",
        overrides={"tune": None, "predict": None, "train.num_boost_round": 30},
    )
    from mlscale.engines.ray import RayEngine
    from mlscale.recipe import EngineConfig, PredictConfig

    engine = RayEngine(EngineConfig(name="ray", address=ray_cluster))
    engine.start()
    try:
        model = load_model(f"runs:/{trained.run_id}/model", tracking_uri=trained.tracking_uri)
        cfg = PredictConfig(
            input=str(workdir / "in"),
            output=str(workdir / "out.parquet"),
            id_columns=["row_id"],
            batch_size=32,
        )
        result = engine.predict(model, cfg, data=None, where="test")
    finally:
        engine.stop()
    out = pd.read_parquet(workdir / "out.parquet")
    assert result.rows == len(frame) == len(out)
    assert sorted(out["row_id"]) == list(range(len(frame)))
    assert len(result.placement) == 2  # actors ran on both nodes
    local, _ = model.predict_frame(
        frame.set_index("row_id").loc[out["row_id"]].reset_index(), id_columns=["row_id"]
    )
    pd.testing.assert_series_equal(
        out["probability"], local["probability"], check_names=False, check_dtype=False
    )
