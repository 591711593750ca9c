"""Gated promotion: the rule (no MLflow), the recipe section, and re-scoring a champion on this run's data."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import cli_in_process

from mlscale.errors import RecipeError
from mlscale.modeling.metrics import compute
from mlscale.recipe import load_recipe
from mlscale.recipe.schema import TASK_METRICS, PromoteConfig
from mlscale.tracking.promotion import Challenge, Promotion, check, decide, rescore
from mlscale.tuning.objective import promote_objective

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes/breast_cancer.yaml"
PROMOTE = {"mlflow.registered_model": "bc", "tune": None, "predict": None}


def challenge(
    value: float, champion: float | None, *, mode: str = "max", delta: float = 0.0, **kw
) -> Challenge:
    return Challenge(
        metric="test_auc" if mode == "max" else "test_rmse", mode=mode, min_delta=delta, value=value,  # type: ignore[arg-type]
        champion_version=kw.pop("version", "1"), champion_value=champion, **kw,
    )  # fmt: skip


# -- the rule --------------------------------------------------------------------------------------------
def test_no_champion_promotes():
    d = decide(challenge(0.5, None, version=None))
    assert d.promoted and d.reason == "no version held @champion"


@pytest.mark.parametrize(
    ("mode", "value", "champion", "promoted"),
    [
        ("max", 0.95, 0.90, True),  # higher is better: higher wins
        ("max", 0.90, 0.95, False),
        ("min", 3.0, 4.0, True),  # lower is better (rmse): lower wins
        ("min", 4.0, 3.0, False),
    ],
)
def test_direction_comes_from_the_mode(mode, value, champion, promoted):
    d = decide(challenge(value, champion, mode=mode))
    assert d.promoted is promoted
    assert f"{value:.5f} (this run) vs {champion:.5f} (@champion version 1" in d.reason
    assert ("higher is better" if mode == "max" else "lower is better") in d.reason


@pytest.mark.parametrize("mode", ["max", "min"])
def test_a_tie_keeps_the_champion(mode):
    d = decide(challenge(0.9, 0.9, mode=mode))
    assert not d.promoted
    assert "not better by more than min_delta 0" in d.reason


@pytest.mark.parametrize(
    ("value", "delta", "promoted"),
    [(0.93, 0.02, True), (0.92, 0.02, False), (0.915, 0.02, False), (0.9201, 0.02, True)],
)
def test_min_delta_is_a_margin_to_beat(value, delta, promoted):
    """champion 0.90: 0.93 beats it by 0.03 > 0.02; 0.92 by 0.02 (up to float noise) is no more than it; 0.9201 is."""
    assert decide(challenge(value, 0.90, delta=delta)).promoted is promoted


def test_min_delta_in_the_lower_is_better_direction():
    assert decide(challenge(2.0, 3.0, mode="min", delta=0.5)).promoted
    assert not decide(challenge(2.6, 3.0, mode="min", delta=0.5)).promoted


def test_champion_that_cannot_be_rescored_stays():
    d = decide(challenge(0.99, None, champion_problem="its feature column(s) 'x' are not in this run's data"))
    assert not d.promoted
    assert "could not be re-scored" in d.reason and "'x'" in d.reason


def test_nan_values():
    assert not decide(challenge(math.nan, 0.9)).promoted  # this run's value unknown: no promotion
    assert decide(challenge(0.9, math.nan)).promoted  # a champion worth nothing on this split


def test_promotion_tags_carry_both_numbers():
    c = challenge(0.9, 0.95)
    p = Promotion(name="bc", version="2", alias="challenger", challenge=c, decision=decide(c))
    tags = p.tags()
    assert tags["mlscale.promotion"] == "challenger" and p.role == "challenger"
    assert tags["mlscale.promotion.alias"] == "challenger"
    assert float(tags["mlscale.promotion.value"]) == 0.9
    assert float(tags["mlscale.promotion.champion_value"]) == 0.95
    assert tags["mlscale.promotion.champion_version"] == "1"
    assert tags["mlscale.promotion.reason"] == p.decision.reason
    assert p.summary.startswith("models:/bc@challenger is version 2: test_auc 0.90000 (this run) vs 0.95000")


# -- the recipe ------------------------------------------------------------------------------------------
def test_promote_defaults_and_direction():
    recipe = load_recipe(RECIPE, overrides={**PROMOTE, "mlflow.promote": {}})
    promote = recipe.mlflow.promote
    assert promote == PromoteConfig(
        alias="champion", metric=None, min_delta=0.0, challenger_alias="challenger"
    )
    assert promote_objective(promote, "binary") == ("test_auc", "max")
    assert promote_objective(promote, "multiclass") == ("test_accuracy", "max")
    assert promote_objective(promote, "regression") == ("test_rmse", "min")
    assert promote_objective(PromoteConfig(metric="test_logloss"), "binary") == ("test_logloss", "min")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"mlflow.registered_model": None, "mlflow.promote": {}},
         "mlflow: promote needs mlflow.registered_model"),
        ({"mlflow.promote": {"metric": "test_rmse"}},
         "mlflow.promote.metric 'test_rmse' is not logged for task binary (one of test_logloss, test_accuracy"),
        ({"mlflow.promote": {"metric": "valid_auc"}}, "mlflow.promote: metric must be a test metric"),
        ({"mlflow.promote": {"metric": "test_aucc"}}, "mlflow.promote: metric must be a test metric"),
        ({"mlflow.promote": {"alias": "latest"}}, "alias 'latest' is reserved by MLflow"),
        ({"mlflow.promote": {"challenger_alias": "V3"}}, "challenger_alias 'V3' is reserved by MLflow"),
        ({"mlflow.promote": {"alias": "best model"}}, "alias must be 1-255 letters, digits, '_' or '-'"),
        ({"mlflow.promote": {"challenger_alias": "champion"}}, "alias and challenger_alias must differ"),
        ({"mlflow.promote": {"min_delta": -0.1}}, "mlflow.promote.min_delta must be a number >= 0"),
        ({"mlflow.promote": {"min_delta": "nan"}}, "mlflow.promote.min_delta must be a finite number"),
        ({"mlflow.promote": {"metrc": "test_auc"}}, "unknown key mlflow.promote.metrc (did you mean 'metric'?)"),
        ({"mlflow.promote": {}, "data.split.test": 0}, "mlflow.promote compares models on the test split"),
    ],
)  # fmt: skip
def test_promote_section_errors(overrides, message):
    with pytest.raises(RecipeError) as err:
        load_recipe(RECIPE, overrides={**PROMOTE, **overrides})
    assert str(err.value).startswith(f"{RECIPE}: ")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_promote_without_registered_model_exits_2_in_one_line(capsys, cli_state, workdir):
    code, _, err = cli_in_process(["validate", str(RECIPE), "--set", "mlflow.promote={}"], capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [
        f"error: {RECIPE}: mlflow: promote needs mlflow.registered_model (the name whose aliases it moves)"
    ]


def test_task_metrics_are_what_compute_returns():
    """TASK_METRICS (what the recipe check accepts) and metrics.compute (what a run logs) cannot drift."""
    y2, y3 = np.array([0, 1, 0, 1]), np.array([0, 1, 2, 1])
    assert set(compute("binary", y2, np.array([0.2, 0.8, 0.4, 0.6]))) == set(TASK_METRICS["binary"])
    assert set(compute("multiclass", y3, np.full((4, 3), 1 / 3))) == set(TASK_METRICS["multiclass"])
    assert set(compute("regression", y2.astype(float), np.zeros(4))) == set(TASK_METRICS["regression"])


# -- pre-flight and re-scoring on real data (no MLflow) ----------------------------------------------------
@pytest.fixture(scope="module")
def trained():
    from mlscale.data import prepare
    from mlscale.engines import get_engine
    from mlscale.modeling.training import evaluate

    recipe = load_recipe(RECIPE, overrides={**PROMOTE, "train.num_boost_round": 20})
    data = prepare(recipe, source="test")
    eng = get_engine(recipe.engine)
    eng.start()
    try:
        model = eng.train(data, recipe.train).model
    finally:
        eng.stop()
    return recipe, data, model, evaluate(model, data)


def test_rescore_of_the_run_s_own_model_is_its_logged_metric(trained):
    """The champion path (raw test rows through the model's own schema) and the run's path (evaluate) give
    the same number: the comparison is between models, not between two ways of scoring."""
    _, data, model, metrics = trained
    for name in ("test_auc", "test_logloss", "test_accuracy", "test_f1"):
        assert rescore(model, data, name).value == pytest.approx(metrics[name], abs=1e-12)


def test_rescore_reports_a_champion_that_does_not_fit(trained):
    import dataclasses

    _, data, model, _ = trained
    other = dataclasses.replace(
        model, schema=dataclasses.replace(model.schema, features=[*model.schema.features, "zip"])
    )
    assert (
        rescore(other, data, "test_auc").problem == "its feature column(s) 'zip' are not in this run's data"
    )
    wrong_task = dataclasses.replace(model, schema=dataclasses.replace(model.schema, task="regression"))
    assert rescore(wrong_task, data, "test_auc").problem == "it is a regression model, this run is binary"
    wrong_classes = dataclasses.replace(
        model, schema=dataclasses.replace(model.schema, classes=["no", "yes"])
    )
    assert (
        rescore(wrong_classes, data, "test_auc").problem
        == "its classes ['no', 'yes'] are not this run's [0, 1]"
    )


def test_check_refuses_an_empty_test_split_and_a_metric_of_another_task(trained):
    import dataclasses

    _, data, _, _ = trained
    check(PromoteConfig(), data, "r.yaml")  # binary, test rows: fine
    with pytest.raises(
        RecipeError, match=r"^r\.yaml: mlflow\.promote\.metric 'test_rmse' is not logged for task binary"
    ):
        check(PromoteConfig(metric="test_rmse"), data, "r.yaml")
    empty = dataclasses.replace(data, y_test=data.y_test[:0])
    with pytest.raises(RecipeError, match="test split, which has no rows"):
        check(PromoteConfig(), empty, "r.yaml")
