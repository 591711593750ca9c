"""The Optuna machinery engines share (tuning/optuna_trials.py): the recipe's search space in Optuna's terms
with Ray Tune's semantics, and a seeded study kept in `state_dir`."""

from __future__ import annotations

from pathlib import Path

import optuna

from mlscale.recipe.schema import SearchDim, TuneConfig
from mlscale.tuning import optuna_trials

SPACE = {
    "max_depth": SearchDim(kind="randint", low=2, high=5),
    "min_child_weight": SearchDim(kind="quniform", low=1, high=10, q=1),
    "eta": SearchDim(kind="loguniform", low=0.01, high=0.3),
    "grow_policy": SearchDim(kind="choice", values=["depthwise", "lossguide"]),
}


def _samples(study: optuna.Study, n: int) -> list[dict]:
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append({name: optuna_trials.suggest(trial, name, dim) for name, dim in SPACE.items()})
        study.tell(trial, 0.0)
    return out


def test_suggest_keeps_ray_tunes_semantics(tmp_path: Path) -> None:
    tune = TuneConfig(space=SPACE, num_samples=40, algorithm="random")
    samples = _samples(optuna_trials.open_study(tune, "min", tmp_path, resume=False), 40)
    assert {s["max_depth"] for s in samples} == {2, 3, 4}  # randint excludes its high end
    assert all(
        float(s["min_child_weight"]).is_integer() and 1 <= s["min_child_weight"] <= 10 for s in samples
    )
    assert all(0.01 <= s["eta"] <= 0.3 for s in samples)
    assert {s["grow_policy"] for s in samples} == {"depthwise", "lossguide"}


def test_a_study_is_seeded_kept_in_state_dir_and_prunes_with_asha(tmp_path: Path) -> None:
    tune = TuneConfig(space=SPACE, num_samples=4, algorithm="tpe", seed=7, scheduler="asha", grace_period=2)
    first = _samples(optuna_trials.open_study(tune, "max", tmp_path / "a", resume=False), 4)
    again = optuna_trials.open_study(tune, "max", tmp_path / "b", resume=False)
    assert _samples(again, 4) == first
    assert (tmp_path / "a" / "optuna.db").is_file()
    resumed = optuna_trials.open_study(tune, "max", tmp_path / "a", resume=True)
    assert len(resumed.trials) == 4 and isinstance(resumed.pruner, optuna.pruners.SuccessiveHalvingPruner)
