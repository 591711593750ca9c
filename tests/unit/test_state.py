"""Tuning state per MLflow run: never shared between runs of one recipe, locked while a process uses it,
removed when the run finishes; --resume picks the run on this data that no live process holds."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import LEAN

import mlscale
from mlscale import RecipeError
from mlscale.recipe import load_recipe, recipe_hash
from mlscale.tracking import runs as tracking
from mlscale.tuning import state

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"tune.num_samples": 2, "train.num_boost_round": 5, "predict": None, **LEAN}


@pytest.fixture
def home(workdir, monkeypatch) -> Path:
    monkeypatch.setenv("MLSCALE_HOME", str(workdir / "home"))
    return workdir / "home"


def test_a_held_state_is_seen_as_held_and_refused(home) -> None:
    with state.hold("run1", "local", where="r.yaml: ") as path:
        assert path == home / "tune" / "run1-local"
        assert state.is_held("run1", "local")
        with (
            pytest.raises(
                RecipeError, match=r"^r.yaml: --resume: run run1 is still running in another process"
            ),
            state.hold("run1", "local", where="r.yaml: "),
        ):
            pass
    assert not state.is_held("run1", "local")
    assert not state.is_held("never", "local")


def test_finished_runs_leave_no_state_and_never_touch_another_runs(home) -> None:
    other = home / "tune" / "someone-else-local"
    other.mkdir(parents=True)
    (other / "study.db").write_text("live")
    for _ in range(2):
        mlscale.run(ROOT / "recipes/breast_cancer.yaml", overrides=SMALL)
    assert sorted(p.name for p in (home / "tune").iterdir()) == ["someone-else-local"]
    assert (other / "study.db").read_text() == "live"


def test_the_same_recipe_in_two_directories_names_two_tables(tmp_path, monkeypatch) -> None:
    keys = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "r.yaml").write_text("name: r\ndata: {source: csv, path: data.csv, target: y}\n")
        monkeypatch.chdir(tmp_path / name)
        keys.append(state.data_key(load_recipe("r.yaml")))
    assert keys[0] != keys[1]


def _interrupted(uri: str, recipe, status: str) -> str:
    tracker = tracking.RunTracker(uri, recipe.name)
    run_id = tracker.start(
        run_name=None,
        tags={"recipe.hash": recipe_hash(recipe), "recipe.data_key": state.data_key(recipe)},
    )
    if status != "RUNNING":
        tracker.finish(status, error="interrupted (SIGINT)")
    return run_id


def test_resume_skips_a_run_a_live_process_holds_and_takes_the_interrupted_one(home, workdir) -> None:
    path = ROOT / "recipes/breast_cancer.yaml"
    recipe = load_recipe(path, overrides=SMALL)
    uri = f"sqlite:///{workdir}/mlflow.db"
    killed = _interrupted(uri, recipe, "KILLED")
    live = _interrupted(uri, recipe, "RUNNING")  # newer, and still held by "another process" below
    with state.hold(live, "local", where=""):
        result = mlscale.run(path, overrides=SMALL, resume=True)
    assert result.run_id == killed
    with (
        state.hold(live, "local", where=""),
        pytest.raises(RecipeError, match=f"run {live} is still running"),
    ):
        mlscale.run(path, overrides=SMALL, resume=True)  # the killed one finished: only the live one is left
