"""The property corpus's generated tables on engine ray agree with engine local: a case that trains on one
trains on the other with the same predictions, and a case refused on one is refused on the other with the
same one-line message (a fixed seed; a subset of tests/unit/test_property.py's tables, since every case
costs a Ray training here)."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from strategies import case_recipe, tables

from mlscale import MlscaleError
from mlscale.data import prepare
from mlscale.engines.local import LocalEngine
from mlscale.engines.ray import RayEngine
from mlscale.recipe.load import validate
from mlscale.recipe.schema import EngineConfig

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def ray_engine(ray_cluster):
    engine = RayEngine(EngineConfig(name="ray", workers=1, address=ray_cluster))
    engine.start()
    try:
        yield engine
    finally:
        engine.stop()


def _outcome(engine, table: pd.DataFrame, task: str | None) -> tuple[str, object]:
    recipe = validate(case_recipe(task), source="r.yaml")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = prepare(recipe, table, source="r.yaml")
            model = engine.train(data, recipe.train).model
            out, _ = model.predict_frame(table)
    except MlscaleError as exc:
        return "refused", (exc.exit_code, str(exc))
    return "trained", out


@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(case=tables())
def test_generated_tables_give_the_same_result_on_local_and_ray(case, ray_engine) -> None:
    table, task = case
    local_kind, local_value = _outcome(LocalEngine(EngineConfig()), table, task)
    ray_kind, ray_value = _outcome(ray_engine, table, task)
    assert ray_kind == local_kind, (local_value, ray_value)
    if local_kind == "refused":
        assert ray_value == local_value
    if local_kind == "trained":
        pd.testing.assert_frame_equal(ray_value, local_value, check_exact=False, rtol=1e-5, atol=1e-6)
