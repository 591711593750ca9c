"""The engine section: common keys, one settings section per engine, the flat ray spelling, plugin sections."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlscale.engine_names import register_engine, unregister_engine
from mlscale.errors import RecipeError
from mlscale.recipe import load_recipe
from mlscale.recipe.trust import TRUST_ENV

BASE = "name: r\ndata: {source: sklearn, dataset: wine}\n"


def _recipe(tmp_path: Path, engine: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(BASE + f"engine: {engine}\n")
    return path


def test_ray_settings_live_in_their_section(tmp_path: Path) -> None:
    recipe = load_recipe(
        _recipe(tmp_path, "{name: ray, workers: 2, ray: {trainer: actors, report_every: 5}}")
    )
    assert recipe.engine.workers == 2
    assert (recipe.engine.ray.trainer, recipe.engine.ray.report_every) == ("actors", 5)


def test_the_flat_spelling_of_older_recipes_still_validates(tmp_path: Path) -> None:
    flat = load_recipe(_recipe(tmp_path, "{name: ray, trainer: actors, max_failures: 2}"))
    assert (flat.engine.ray.trainer, flat.engine.ray.max_failures) == ("actors", 2)
    by_set = load_recipe(_recipe(tmp_path, "{name: ray}"), overrides=["engine.trainer=ray_train"])
    assert by_set.engine.ray.trainer == "ray_train"


def test_one_setting_given_both_ways_is_refused(tmp_path: Path) -> None:
    path = _recipe(tmp_path, "{name: ray, trainer: actors, ray: {trainer: ray_train}}")
    with pytest.raises(RecipeError, match=r"r\.yaml: engine\.trainer and engine\.ray\.trainer are the same"):
        load_recipe(path)


def test_the_ray_section_travels_unchanged_to_another_engine(tmp_path: Path) -> None:
    """One recipe runs on every engine: switching to local keeps (and ignores) the ray settings."""
    path = _recipe(tmp_path, "{name: ray, ray: {address: auto, trainer: actors}}")
    local = load_recipe(path, engine="local")
    assert local.engine.name == "local" and local.engine.ray.trainer == "actors"


def test_a_typo_in_the_ray_section_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"unknown key engine\.ray\.trainr.*trainer"):
        load_recipe(_recipe(tmp_path, "{name: ray, ray: {trainr: actors}}"))


def test_a_nested_remote_address_needs_confirmation_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TRUST_ENV, raising=False)
    path = _recipe(tmp_path, "{name: ray, ray: {address: '10.1.2.3:6379'}}")
    assert load_recipe(path)._unconfirmed == ("engine.ray.address",)
    assert load_recipe(path, overrides=["engine.address=10.1.2.3:6379"])._unconfirmed == ()
    assert load_recipe(path, overrides={"engine": {"ray": {"address": "auto"}}})._unconfirmed == ()


def test_a_plugin_engine_gets_its_own_section(tmp_path: Path) -> None:
    register_engine("toy", "toy_engine:ToyEngine")
    try:
        path = _recipe(tmp_path, "{name: toy, workers: 3, toy: {scheduler: 'tcp://127.0.0.1:8786'}}")
        recipe = load_recipe(path, overrides=["engine.toy.threads=2"])
        assert recipe.engine.plugins == {"toy": {"scheduler": "tcp://127.0.0.1:8786", "threads": 2}}
        with pytest.raises(RecipeError, match=r"engine\.toy must be a mapping"):
            load_recipe(_recipe(tmp_path, "{name: toy, toy: 3}"))
    finally:
        unregister_engine("toy")
    with pytest.raises(RecipeError, match=r"unknown key engine\.toy"):
        load_recipe(_recipe(tmp_path, "{name: local, toy: {a: 1}}"))
