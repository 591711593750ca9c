"""The pre-flight of `mlscale run`: what xgboost or MLflow would refuse once the run has started is
refused before anything starts (exit 2, one line, no MLflow store, no output), or made acceptable."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlscale.cli import main


def _table(columns: list[str], rows: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({c: rng.normal(size=rows) for c in columns})
    frame["target"] = (frame[columns[0]] > 0).astype(int)
    return frame


def _run(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """`mlscale run` in process from tmp_path/work; asserts that nothing was created anywhere."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    monkeypatch.chdir(work)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLSCALE_HOME", str(tmp_path / "home"))
    before = set(tmp_path.rglob("*"))
    environ = dict(os.environ)
    try:
        with pytest.raises(SystemExit) as exited:
            main(["run", *args])
    finally:
        os.environ.clear()
        os.environ.update(environ)
    out, err = capsys.readouterr()
    assert set(tmp_path.rglob("*")) == before  # no mlflow.db, no output, no tune state
    return int(exited.value.code or 0), out, err


def _recipe(tmp_path: Path, data: str, extra: str = "") -> Path:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: t\ndata: {data}\ntask: binary\ntrain: {{num_boost_round: 3}}\n{extra}")
    return recipe


@pytest.mark.parametrize("bad", ["x[1]", "x]", "a<b"])
def test_feature_names_xgboost_refuses(
    bad: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _table(["ok", bad]).to_csv(tmp_path / "d.csv", index=False)
    recipe = _recipe(tmp_path, f"{{source: csv, path: {tmp_path / 'd.csv'}}}")
    code, out, err = _run([str(recipe)], tmp_path, monkeypatch, capsys)
    char = next(c for c in bad if c in "[]<")
    assert (code, out) == (2, "")
    assert err == (
        f"error: {recipe}: data.features: column {bad!r} has {char!r} in its name, which xgboost does not "
        "accept; rename it, or leave it out with data.exclude\n"
    )


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("train.eval_metric=[aucc]", "Unknown metric function aucc"),
        ("train.params.objective=binary:logistc", "Unknown objective function: `binary:logistc`"),
        ("train.params.max_delta_step=-1", "value -1 for Parameter max_delta_step should be greater equal to 0"),
        ("train.params.sampling_method=sometimes", "Invalid Input: 'sometimes', valid values are: {'gradient_based', 'uniform'}"),
    ],
)  # fmt: skip
def test_parameters_xgboost_refuses(
    setting: str,
    problem: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _table(["a", "b"]).to_csv(tmp_path / "d.csv", index=False)
    recipe = _recipe(tmp_path, f"{{source: csv, path: {tmp_path / 'd.csv'}}}")
    code, out, err = _run([str(recipe), "--set", setting], tmp_path, monkeypatch, capsys)
    assert (code, out) == (2, "")
    assert err == f"error: {recipe}: train: xgboost does not accept the parameters ({problem})\n"


REGRESSION_METRICS = (
    "rmse, rmsle, mae, mape, mphe, quantile, poisson-nloglik, gamma-nloglik, gamma-deviance, tweedie-nloglik"
)


def test_a_classification_metric_on_an_inferred_regression_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The target turned numeric, the recipe kept eval_metric [auc, logloss]: xgboost would compute a
    logloss of -21,518 and early-stop on it. Refused before training, once the task is inferred."""
    frame = _table(["a", "b"])
    frame["target"] = frame["a"] * 1000.0 + 5.0
    frame.to_csv(tmp_path / "d.csv", index=False)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"name: t\ndata: {{source: csv, path: {tmp_path / 'd.csv'}}}\n"
        "train: {num_boost_round: 3, eval_metric: [auc, logloss]}\n"
    )
    code, out, err = _run([str(recipe)], tmp_path, monkeypatch, capsys)
    assert (code, out) == (2, "")
    assert err.splitlines()[-1] == (
        f"error: {recipe}: train.eval_metric 'auc' does not fit task regression, inferred from the target "
        f"'target' (xgboost's regression metrics: {REGRESSION_METRICS})"
    )
    assert [line for line in err.splitlines() if line.startswith("error:")] == [err.splitlines()[-1]]


@pytest.mark.parametrize(
    ("task", "setting", "problem"),
    [
        (
            "regression",
            "train.eval_metric=[rmse, logloss]",
            f"train.eval_metric 'logloss' does not fit task regression (xgboost's regression metrics: {REGRESSION_METRICS})",
        ),
        (
            "binary",
            "train.eval_metric=[mlogloss]",
            "train.eval_metric 'mlogloss' does not fit task binary (xgboost's binary metrics: logloss, error, auc, aucpr)",
        ),
        (
            "binary",
            "train.eval_metric=[ndcg@5]",
            "train.eval_metric 'ndcg@5' does not fit task binary (xgboost's binary metrics: logloss, error, auc, aucpr)",
        ),
        (
            "multiclass",
            "train.eval_metric=[error@0.7]",
            "train.eval_metric 'error@0.7' does not fit task multiclass (xgboost's multiclass metrics: mlogloss, merror, auc, aucpr)",
        ),
        (
            "binary",
            "tune={space: {eta: {uniform: [0.1, 0.2]}}, metric: valid_rmse}",
            "tune.metric 'valid_rmse' is not measured for task binary (one of valid_logloss, valid_accuracy, valid_f1, valid_auc; or add it to train.eval_metric)",
        ),
        (
            "regression",
            "tune={space: {eta: {uniform: [0.1, 0.2]}}, metric: valid_auc}",
            "tune.metric 'valid_auc' is not measured for task regression (one of valid_rmse, valid_mae, valid_r2; or add it to train.eval_metric)",
        ),
    ],
)
def test_metrics_that_do_not_fit_an_explicit_task_are_refused_at_validation(
    task: str, setting: str, problem: str, tmp_path: Path
) -> None:
    import mlscale
    from mlscale.errors import RecipeError

    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: t\ndata: {{source: sklearn, dataset: iris}}\ntask: {task}\n")
    with pytest.raises(RecipeError) as info:
        mlscale.load_recipe(recipe, overrides=[setting])
    assert str(info.value) == f"{recipe}: {problem}"
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("task", "settings"),
    [
        ("regression", ["train.eval_metric=[mae, rmse, mphe, tweedie-nloglik@1.5]"]),
        ("regression", ["train.params.objective=reg:logistic", "train.eval_metric=[auc, logloss]"]),
        ("binary", ["train.eval_metric=[error@0.7, aucpr, logloss]"]),
        ("multiclass", ["train.eval_metric=[auc, merror, mlogloss]"]),
        (
            "binary",
            [
                "train.eval_metric=[error, logloss]",
                "tune={space: {eta: {uniform: [0.1, 0.2]}}, metric: valid_error}",
            ],
        ),
        ("regression", ["tune={space: {eta: {uniform: [0.1, 0.2]}}, metric: valid_r2}"]),
        (
            "binary",
            ["train.eval_metric=[aucc]"],
        ),  # unknown to xgboost: its own message, at the run's pre-flight
    ],
)
def test_metrics_that_fit_are_accepted(task: str, settings: list[str], tmp_path: Path) -> None:
    import mlscale

    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: t\ndata: {{source: sklearn, dataset: iris}}\ntask: {task}\n")
    assert mlscale.load_recipe(recipe, overrides=settings).task == task


@pytest.mark.parametrize(
    "name",
    ["predict_unseen_income ($)", "curve_valid_error@0.7", "valid_ndcg@5", "predict_unseen_a/b",
     "predict_unseen_../x", "predict_unseen_é|ü", "predict_unseen_" + "x" * 300, "train.params.a//b"],
)  # fmt: skip
def test_names_are_made_acceptable_to_mlflow(name: str) -> None:
    from mlflow.utils.validation import path_not_unique, validate_param_and_metric_name

    from mlscale.tracking.runs import mlflow_key

    key = mlflow_key(name)
    assert validate_param_and_metric_name(key) and not path_not_unique(key) and len(key) <= 250
    assert key[:5] == name[:5]


def test_acceptable_names_are_kept() -> None:
    from mlscale.tracking.runs import mlflow_key

    for name in ("valid_auc", "curve_train_logloss", "train.params.max_leaves", "predict_unseen_a b:c-d"):
        assert mlflow_key(name) == name


def test_odd_metric_and_param_names_are_logged(tmp_path: Path) -> None:
    """What reaches MLflow with a column 'income ($)' or an eval metric 'error@0.7' is logged, not refused."""
    from mlflow.tracking import MlflowClient

    from mlscale.tracking import runs as tracking

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = tracking.RunTracker(uri, "names")
    run_id = tracker.start(run_name=None, tags={"recipe.name": "t"})
    tracker.log_metrics({"predict_unseen_income ($)": 3})
    tracker.log_history({"valid": {"error@0.7": [0.5, 0.4]}})
    tracker.log_params({"train": {"params": {"a@b": 1}}})
    tracker.finish()
    run = MlflowClient(uri).get_run(run_id)
    assert run.data.metrics["predict_unseen_income ___"] == 3
    assert run.data.metrics["curve_valid_error_0.7"] == 0.4
    assert run.data.params["train.params.a_b"] == "1"


def test_the_parameter_check_prints_nothing(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """The one-round xgboost check runs on every `mlscale run`: nothing of it may reach the terminal."""
    from mlscale.data import prepare
    from mlscale.modeling.training import params_problem
    from mlscale.recipe.load import validate

    _table(["a", "b"]).to_csv(tmp_path / "d.csv", index=False)
    raw = {"name": "t", "data": {"source": "csv", "path": str(tmp_path / "d.csv")}, "task": "binary",
           "train": {"params": {"not_an_xgboost_parameter": 1}}}  # fmt: skip
    recipe = validate(raw)
    data = prepare(recipe)
    capfd.readouterr()
    assert params_problem(recipe.train, data) is None
    assert capfd.readouterr() == ("", "")
