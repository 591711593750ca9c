"""train.external_memory on engine ray: each worker builds its ExtMemQuantileDMatrix from its own batches
of the source files; the model scores as the in-memory one does and no cache is left behind."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import mlscale
from mlscale.modeling.external_memory import CACHE_PREFIX

pytestmark = pytest.mark.ray


def _caches() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).iterdir() if p.name.startswith(CACHE_PREFIX)}


def _source(workdir: Path) -> Path:
    rng = np.random.default_rng(1)
    n = 20_000
    x = rng.normal(size=(n, 6)).astype(np.float32)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(6)])
    frame["target"] = (x[:, 0] - x[:, 1] * x[:, 2] + rng.normal(scale=0.7, size=n) > 0).astype(int)
    data = workdir / "data"
    data.mkdir()
    for i, rows in enumerate(np.array_split(np.arange(n), 4)):
        frame.iloc[rows].to_parquet(data / f"part-{i}.parquet", index=False)
    return data


def test_ray_external_memory_matches_in_memory(ray_cluster, workdir, monkeypatch):
    monkeypatch.setattr(
        "mlscale.data.streamed.batch_rows", lambda columns: 2_000
    )  # several batches per worker
    data = _source(workdir)
    recipe = workdir / "recipe.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "name": "extmem_ray",
                "data": {"source": "parquet", "path": str(data), "split": {"valid": 0.1, "test": 0.2}},
                "train": {"num_boost_round": 80, "early_stopping_rounds": None},
                "evaluate": {"reference": "off"},
                "engine": {"name": "ray", "address": ray_cluster, "workers": 2, "trainer": "actors"},
            }
        )
    )
    before = _caches()
    off = mlscale.run(recipe, overrides=["train.external_memory=off"])
    on = mlscale.run(recipe, overrides=["train.external_memory=on"])
    assert _caches() == before
    assert abs(on.metrics["test_auc"] - off.metrics["test_auc"]) <= 0.01, (on.metrics, off.metrics)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(on.tracking_uri)
    run, other = client.get_run(on.run_id), client.get_run(off.run_id)
    assert run.data.tags["train.data"] == "external_memory"
    assert run.data.metrics["rows_train"] == other.data.metrics["rows_train"] == 14_000
    placement = run.data.tags["train.placement"].split(";")
    assert len(placement) == 2


def test_ray_tunes_on_external_memory_and_leaves_no_cache(ray_cluster, workdir, monkeypatch):
    """Each trial builds its cache from the files, in a trial process on either node, and removes it."""
    monkeypatch.setattr("mlscale.data.streamed.batch_rows", lambda columns: 4_000)
    data = _source(workdir)
    recipe = workdir / "tune.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "name": "extmem_ray_tune",
                "data": {"source": "parquet", "path": str(data), "split": {"valid": 0.1, "test": 0.2}},
                "train": {"num_boost_round": 40, "early_stopping_rounds": None, "external_memory": "on"},
                "tune": {"num_samples": 3, "space": {"max_depth": {"randint": [2, 7]}}, "scheduler": "none"},
                "evaluate": {"reference": "off", "explain": {"enabled": False}},
                "engine": {"name": "ray", "workers": 2, "ray": {"address": ray_cluster, "trainer": "actors"}},
            }
        )
    )
    before = _caches()
    result = mlscale.run(recipe)
    assert _caches() == before
    assert result.metrics["test_auc"] > 0.8, result.metrics
    from mlflow.tracking import MlflowClient

    client = MlflowClient(result.tracking_uri)
    children = client.search_runs(
        [client.get_run(result.run_id).info.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{result.run_id}'",
    )
    assert len(children) == 3
    assert all(child.data.metrics["valid_auc"] > 0.8 for child in children), [
        c.data.metrics for c in children
    ]
