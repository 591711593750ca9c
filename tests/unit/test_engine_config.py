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


# --- the seams: what the core asks of an engine, declared by its settings section ---------------------------


def test_the_core_reads_what_an_engine_declares_not_its_name(tmp_path: Path) -> None:
    """The memory estimate's training processes, plan's address key and the version gate come from the
    engine's settings section; a plugin engine gets the defaults (one process, no cluster address)."""
    from mlscale.data import memory_plan
    from mlscale.recipe.resolve import address_key
    from mlscale.workflow import versions

    seen: list[int] = []
    real = memory_plan.decide
    try:
        memory_plan.decide = lambda recipe, summary, *, source, workers: seen.append(workers)  # type: ignore[assignment,misc,return-value]
        for name in ("local", "ray"):
            recipe = load_recipe(_recipe(tmp_path, f"{{name: {name}, workers: 3}}"))
            memory_plan.for_recipe(recipe, {}, source="r.yaml")
        register_engine("toy", "toy_engine:ToyEngine")
        try:
            toy = load_recipe(_recipe(tmp_path, "{name: toy, workers: 3}"))
            memory_plan.for_recipe(toy, {}, source="r.yaml")
            with pytest.raises(RecipeError, match="engine toy runs in this process, on no cluster"):
                address_key(toy, "r.yaml")
            assert versions.known_bad({"xgboost": "3.2.0"}, engine="toy") is None
        finally:
            unregister_engine("toy")
    finally:
        memory_plan.decide = real  # type: ignore[assignment]
    assert seen == [1, 3, 1]
    ray = load_recipe(_recipe(tmp_path, "{name: ray}"))
    assert address_key(ray, "r.yaml") == "engine.ray.address"
    assert versions.known_bad({"xgboost": "3.2.0", "ray": None}, engine="ray") == (
        "engine ray needs ray: pip install 'ray[tune,data,train]'"
    )


def test_an_address_key_is_cleared_generically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TRUST_ENV, "1")
    ray = load_recipe(_recipe(tmp_path, "{name: ray, ray: {address: '10.1.2.3:6379', trainer: actors}}"))
    assert ray.engine.settings.cluster_address == "10.1.2.3:6379"
    cleared = ray.engine.without_address()
    assert cleared.settings.cluster_address is None and cleared.ray.trainer == "actors"
    local = load_recipe(_recipe(tmp_path, "{name: local}"))
    assert local.engine.settings.cluster_address is None and local.engine.without_address() == local.engine


def test_no_code_outside_the_engine_seams_compares_engine_names() -> None:
    """Only engines/, the engine config and the deploy modules (Ray Jobs, KubeRay) may name an engine."""
    import re

    package = Path(__file__).resolve().parents[2] / "mlscale"
    allowed = ("engines/", "recipe/engine_config.py", "deploy/")
    pattern = re.compile(r"""(\bname|\bengine)\s*(==|!=)\s*["'](local|ray|dask)["']|\.engine\.(ray|dask)\b""")
    found = [
        f"{path.relative_to(package)}: {line.strip()}"
        for path in package.rglob("*.py")
        if not str(path.relative_to(package)).startswith(allowed)
        for line in path.read_text().splitlines()
        if pattern.search(line)
    ]
    assert found == []


@pytest.mark.parametrize("settings", ["RaySettings", "DaskSettings"])
def test_an_engines_loggers_are_restored_after_every_call_and_quieted_by_the_cli(settings: str) -> None:
    import logging

    from mlscale.cli.logs import setup_logging
    from mlscale.recipe import engine_config
    from mlscale.util import scoped

    assert set(getattr(engine_config, settings).loggers) <= set(scoped._loggers())
    name = getattr(engine_config, settings).loggers[0]
    before = logging.getLogger(name).level
    logging.getLogger(name).setLevel(logging.INFO)
    try:
        with scoped.restored():
            setup_logging(verbose=False, quiet=False)
            assert all(
                logging.getLogger(n).level == logging.ERROR for n in getattr(engine_config, settings).loggers
            )
        assert logging.getLogger(name).level == logging.INFO
    finally:
        logging.getLogger(name).setLevel(before)


def test_the_autoscalers_node_groups_and_wait_are_ray_settings(tmp_path: Path) -> None:
    recipe = load_recipe(
        _recipe(tmp_path, "{name: ray, ray: {scale_timeout_s: 900, node_groups: [{cpus: 2, max: 4}]}}")
    )
    (group,) = recipe.engine.ray.node_groups
    assert (group.name, group.cpus, group.max, recipe.engine.ray.scale_timeout_s) == ("workers", 2, 4, 900)
    with pytest.raises(RecipeError, match=r"engine\.ray\.node_groups\.0\.cpus"):
        load_recipe(_recipe(tmp_path, "{name: ray, ray: {node_groups: [{cpus: 0, max: 4}]}}"))
    with pytest.raises(RecipeError, match=r"engine\.ray\.scale_timeout_s"):
        load_recipe(_recipe(tmp_path, "{name: ray, ray: {scale_timeout_s: 0}}"))
