"""A third engine plugs in without any change to the runner, tracking or the CLI.

tests/toy_engine.py implements the `Engine` protocol (plain xgboost in this process); registered by
name, it runs a recipe end to end: train, tune, log the model, predict, through `mlscale.run` and the CLI.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

import mlscale
from mlscale import RecipeError
from mlscale.engine_names import known, register_engine, unregister_engine

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes/breast_cancer.yaml"


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    register_engine("toy", "toy_engine:ToyEngine")
    yield
    unregister_engine("toy")
    sys.modules.pop("toy_engine", None)


def test_a_registered_engine_runs_a_recipe_end_to_end(toy, workdir) -> None:
    from mlflow.tracking import MlflowClient

    result = mlscale.run(RECIPE, engine="toy", overrides={"tune.num_samples": 3, "train.num_boost_round": 40})
    assert result.cluster.engine == "toy"
    assert result.metrics["test_auc"] > 0.95
    assert len(result.tune.trials) == 3 if result.tune else False
    written = pd.read_parquet(result.output_path)
    assert (
        len(written) == result.metrics["predict_rows"]
        if "predict_rows" in result.metrics
        else len(written) > 0
    )
    client = MlflowClient(result.tracking_uri)
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["engine"] == "toy"
    children = client.search_runs([run.info.experiment_id], f"tags.`mlflow.parentRunId` = '{result.run_id}'")
    assert len(children) == 3


def test_the_cli_runs_it_too(toy, workdir, capsys, cli_state) -> None:
    from mlscale.cli import main

    with pytest.raises(SystemExit) as info:
        main(
            [
                "run",
                str(RECIPE),
                "--engine",
                "toy",
                "-q",
                "--set",
                "tune=null",
                "--set",
                "train.num_boost_round=20",
            ]
        )
    assert info.value.code == 0
    assert "mlscale run breast_cancer (toy)" in capsys.readouterr().out


def test_unknown_engines_are_refused_and_builtins_cannot_be_replaced(workdir) -> None:
    with pytest.raises(RecipeError, match=r"engine.name: unknown engine 'toy', expected one of .*local.*ray"):
        mlscale.load_recipe(RECIPE, engine="toy")
    with pytest.raises(ValueError, match="built in"):
        register_engine("ray", "x:Y")
    assert {"local", "ray"} <= set(known())
