"""mlscale.tuning.objective: the decisions the runner and every engine share."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlscale.errors import EngineError, TuningError
from mlscale.recipe import TuneConfig
from mlscale.tuning import objective as rules


@dataclass
class _Trial:
    name: str
    metric: float
    status: str = "completed"


def _tune(**kw) -> TuneConfig:
    return TuneConfig(space={"eta": {"loguniform": [0.01, 0.3]}}, **kw)


@pytest.mark.parametrize(
    ("task", "metric", "mode"),
    [
        ("binary", "valid_logloss", "min"),
        ("multiclass", "valid_mlogloss", "min"),
        ("regression", "valid_rmse", "min"),
    ],
)
def test_the_default_objective_follows_the_task(task, metric, mode):
    assert rules.tune_objective(_tune(), task) == (metric, mode)


def test_a_recipe_metric_brings_its_direction_and_an_explicit_mode_wins():
    assert rules.tune_objective(_tune(metric="valid_auc"), "binary") == ("valid_auc", "max")
    assert rules.tune_objective(_tune(metric="valid_auc", mode="min"), "binary") == ("valid_auc", "min")


def test_the_best_trial_is_the_best_completed_one_in_the_mode():
    trials = [_Trial("a", 0.3), _Trial("b", 0.1, "pruned"), _Trial("c", 0.2), _Trial("d", 0.9, "failed")]
    assert rules.best_trial(trials, "min", engine="local").name == "c"
    assert rules.best_trial(trials, "max", engine="local").name == "a"


def test_equal_metrics_keep_the_first_trial():
    assert rules.best_trial([_Trial("a", 0.5), _Trial("b", 0.5)], "min", engine="ray").name == "a"


def test_no_completed_trial_is_one_engine_error_on_every_engine():
    pruned = [_Trial("a", 0.1, "pruned")]
    for engine in ("local", "ray"):
        with pytest.raises(TuningError, match=rf"^{engine}: no tuning trial completed \(all pruned\); lower"):
            rules.best_trial(pruned, "min", engine=engine)
    with pytest.raises(EngineError, match=r"^ray: no tuning trial completed \(boom\)$") as info:
        rules.best_trial([_Trial("a", 0.1, "failed")], "min", engine="ray", error="boom")
    assert info.value.exit_code == 1


def test_best_value_skips_nans():
    assert rules.best_value([0.3, math.nan, 0.2], "min") == 0.2
    assert rules.best_value([0.3, math.nan, 0.2], "max") == 0.3
    assert rules.best_value([math.nan], "min") is None
    assert rules.best_value([], "max") is None


def test_the_state_home_is_read_at_call_time(monkeypatch, tmp_path):
    monkeypatch.setenv("MLSCALE_HOME", str(tmp_path / "a"))
    assert rules.state_home() == tmp_path / "a"
    monkeypatch.setenv("MLSCALE_HOME", str(tmp_path / "b"))
    assert rules.state_home() == tmp_path / "b"
    monkeypatch.delenv("MLSCALE_HOME")
    assert rules.state_home() == Path.home() / ".mlscale"


def test_tune_state_follows_mlscale_home_set_after_import(monkeypatch, tmp_path):
    from mlscale.tuning import state

    monkeypatch.setenv("MLSCALE_HOME", str(tmp_path))
    assert state.state_dir("0123abcd", "local").parent == tmp_path / "tune"
