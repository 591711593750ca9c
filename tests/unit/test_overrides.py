"""Profiles, --set overrides and engine=: how a recipe is resolved before it is validated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import mlscale
from mlscale import RecipeError
from mlscale.recipe import recipe_hash, recipe_yaml
from mlscale.recipe.load import deep_merge, parse_override, validate

REPO = Path(__file__).resolve().parents[2]
RECIPES = sorted((REPO / "recipes").glob("*.yaml"))

RECIPE = """\
name: t
data: {source: sklearn, dataset: iris, split: {valid: 0.2, test: 0.1}}
train: {num_boost_round: 50, eta: 0.1, max_depth: 4, eval_metric: [mlogloss, merror]}
engine: {name: local, workers: 3}
"""


@pytest.fixture
def recipe_path(tmp_path: Path) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE)
    return path


def _profile(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- deep_merge ---------------------------------------------------------------------------------------


def test_deep_merge_merges_nested_mappings_key_by_key() -> None:
    base = {"train": {"eta": 0.1, "max_depth": 4}, "name": "a"}
    over = {"train": {"eta": 0.2, "subsample": 0.8}}
    assert deep_merge(base, over) == {"train": {"eta": 0.2, "max_depth": 4, "subsample": 0.8}, "name": "a"}


def test_deep_merge_merges_at_any_depth() -> None:
    base = {"data": {"split": {"valid": 0.2, "test": 0.1}, "source": "csv"}}
    over = {"data": {"split": {"test": 0.3}}}
    assert deep_merge(base, over) == {"data": {"split": {"valid": 0.2, "test": 0.3}, "source": "csv"}}


@pytest.mark.parametrize(
    ("base_value", "over_value"),
    [
        ([1, 2], [3]),  # lists replace, never concatenate
        ({"a": 1}, 5),  # a scalar replaces a mapping
        (5, {"a": 1}),  # a mapping replaces a scalar
        ({"a": 1}, None),  # null replaces (clears) a section
        ("x", [1]),
    ],
    ids=["list-replaces-list", "scalar-replaces-mapping", "mapping-replaces-scalar", "null", "list-over-str"],
)
def test_deep_merge_replaces_non_mappings(base_value: Any, over_value: Any) -> None:
    assert deep_merge({"k": base_value, "other": 1}, {"k": over_value}) == {"k": over_value, "other": 1}


def test_deep_merge_leaves_inputs_alone_and_shares_nothing() -> None:
    base = {"train": {"eval_metric": ["auc"]}, "keep": {"x": [1]}}
    over = {"train": {"params": {"tree_method": "hist"}}, "new": {"y": [2]}}
    out = deep_merge(base, over)
    out["train"]["eval_metric"].append("logloss")
    out["train"]["params"]["tree_method"] = "exact"
    out["keep"]["x"].append(9)
    out["new"]["y"].append(9)
    assert base == {"train": {"eval_metric": ["auc"]}, "keep": {"x": [1]}}
    assert over == {"train": {"params": {"tree_method": "hist"}}, "new": {"y": [2]}}


def test_deep_merge_empty_over_is_a_copy() -> None:
    base = {"a": {"b": 1}}
    out = deep_merge(base, {})
    assert out == base and out is not base and out["a"] is not base["a"]


# --- parse_override -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("train.num_boost_round=50", ("train.num_boost_round", 50)),
        ("train.eta=0.05", ("train.eta", 0.05)),
        ("train.eta=-1", ("train.eta", -1)),
        ("train.eval_metric=[auc, logloss]", ("train.eval_metric", ["auc", "logloss"])),
        ("train.eval_metric=[]", ("train.eval_metric", [])),
        ("tune=null", ("tune", None)),
        ("tune=~", ("tune", None)),
        ("tune=", ("tune", None)),
        ("tune=  ", ("tune", None)),
        ("engine.dashboard=true", ("engine.dashboard", True)),
        ("engine.dashboard=false", ("engine.dashboard", False)),
        ("engine.name=ray", ("engine.name", "ray")),
        ("name='007'", ("name", "007")),
        ("name=007", ("name", 7)),
        ("mlflow.tracking_uri=http://host:5000", ("mlflow.tracking_uri", "http://host:5000")),
        ("data.path=a=b.csv", ("data.path", "a=b.csv")),  # only the first '=' splits
        ("tune.space.eta={uniform: [0.01, 0.3]}", ("tune.space.eta", {"uniform": [0.01, 0.3]})),
        ("  train.eta = 0.3 ", ("train.eta", 0.3)),  # the key is stripped, the value is YAML
        ("description=a: b: c", ("description", "a: b: c")),  # not YAML: kept as text
        ("predict.input=*.csv", ("predict.input", "*.csv")),
        ("predict.input=@x", ("predict.input", "@x")),
        ("predict.input='[ab]*.csv'", ("predict.input", "[ab]*.csv")),
    ],
)
def test_parse_override_values_are_yaml(text: str, expected: tuple[str, Any]) -> None:
    key, value = parse_override(text)
    assert (key, value) == expected
    assert type(value) is type(expected[1])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "train.eval_metric=[auc",
            "while parsing a flow sequence expected ',' or ']', but got '<stream end>'",
        ),
        (
            "tune.space.eta={uniform: [0.1, 0.2]",
            "while parsing a flow mapping expected ',' or '}', but got '<stream end>'",
        ),
        ('description="unclosed', "while scanning a quoted scalar found unexpected end of stream"),
        ("description=[a] b", "expected '<document start>', but found '<scalar>'"),
    ],
)
def test_parse_override_refuses_broken_yaml_in_set(text: str, problem: str) -> None:
    """A value starting like a list, a mapping or a quoted text is YAML: broken, it is a YAML error of that
    --set, not a type error against the recipe file."""
    key, _, value = text.partition("=")
    with pytest.raises(RecipeError) as info:
        parse_override(text)
    assert str(info.value) == (
        f"--set {key}: invalid YAML: {problem} (to give a text starting with {value[0]}, quote all of it)"
    )
    assert info.value.exit_code == 2


@pytest.mark.parametrize("text", ["train.eta", "=1", " =1", "train..eta=1", ".eta=1", "train.=1", ""])
def test_parse_override_rejects_malformed(text: str) -> None:
    with pytest.raises(RecipeError) as info:
        parse_override(text)
    assert str(info.value) == (
        f"--set: expected KEY=VALUE with a dotted KEY like train.eta=0.1, got {text!r}"
    )


# --- load_recipe: profiles, --set, engine= ------------------------------------------------------------


def test_no_overrides_reads_the_file(recipe_path: Path) -> None:
    r = mlscale.load_recipe(recipe_path)
    assert (r.train.num_boost_round, r.train.eta, r.train.max_depth) == (50, 0.1, 4)
    assert r.engine.workers == 3
    assert r.data.split.valid == 0.2


def test_set_overrides_one_field_and_keeps_siblings(recipe_path: Path) -> None:
    r = mlscale.load_recipe(recipe_path, overrides=["train.eta=0.05", "data.split.test=0"])
    assert r.train.eta == 0.05
    assert r.train.max_depth == 4 and r.train.num_boost_round == 50
    assert r.data.split.test == 0 and r.data.split.valid == 0.2


def test_set_accepts_a_mapping(recipe_path: Path) -> None:
    r = mlscale.load_recipe(recipe_path, overrides={"train.eta": 0.2, "train.eval_metric": ["auc"]})
    assert r.train.eta == 0.2
    assert r.train.eval_metric == ["auc"]


def test_set_list_replaces_list(recipe_path: Path) -> None:
    r = mlscale.load_recipe(recipe_path, overrides=["train.eval_metric=[merror]"])
    assert r.train.eval_metric == ["merror"]


def test_set_creates_missing_sections(recipe_path: Path) -> None:
    r = mlscale.load_recipe(recipe_path, overrides=["tune.space.eta={loguniform: [0.01, 0.3]}"])
    assert r.tune is not None
    assert (r.tune.space["eta"].kind, r.tune.space["eta"].low, r.tune.space["eta"].high) == (
        "loguniform",
        0.01,
        0.3,
    )


def test_set_free_form_params(recipe_path: Path) -> None:
    r = mlscale.load_recipe(
        recipe_path, overrides=["train.params.tree_method=hist", "train.params.nthread=2"]
    )
    assert r.train.params == {"tree_method": "hist", "nthread": 2}


def test_set_null_clears_a_field(recipe_path: Path) -> None:
    r = mlscale.load_recipe(recipe_path, overrides=["train.eval_metric=null"])
    assert r.train.eval_metric is None


def test_set_exponent_without_dot_still_validates_as_float(recipe_path: Path) -> None:
    # YAML 1.1 reads '1e-3' as a string; pydantic's float parsing turns it into a number.
    r = mlscale.load_recipe(recipe_path, overrides=["train.eta=1e-3"])
    assert r.train.eta == pytest.approx(0.001)


def test_later_set_wins(recipe_path: Path) -> None:
    r = mlscale.load_recipe(recipe_path, overrides=["train.eta=0.2", "train.eta=0.3"])
    assert r.train.eta == 0.3


def test_profile_deep_merges_over_the_recipe(recipe_path: Path, tmp_path: Path) -> None:
    prof = _profile(tmp_path, "big.yaml", "train: {max_depth: 8}\nengine: {workers: 5}\n")
    r = mlscale.load_recipe(recipe_path, profiles=[prof])
    assert r.train.max_depth == 8 and r.engine.workers == 5
    assert r.train.eta == 0.1 and r.train.num_boost_round == 50  # untouched siblings survive
    assert r.engine.name == "local"


def test_profiles_apply_in_order(recipe_path: Path, tmp_path: Path) -> None:
    a = _profile(tmp_path, "a.yaml", "train: {eta: 0.2, max_depth: 2}\n")
    b = _profile(tmp_path, "b.yaml", "train: {eta: 0.3}\n")
    assert mlscale.load_recipe(recipe_path, profiles=[a, b]).train.eta == 0.3
    assert mlscale.load_recipe(recipe_path, profiles=[b, a]).train.eta == 0.2
    assert mlscale.load_recipe(recipe_path, profiles=[b, a]).train.max_depth == 2


def test_set_wins_over_profile(recipe_path: Path, tmp_path: Path) -> None:
    prof = _profile(tmp_path, "p.yaml", "train: {eta: 0.2, max_depth: 2}\n")
    r = mlscale.load_recipe(recipe_path, profiles=[prof], overrides=["train.eta=0.3"])
    assert r.train.eta == 0.3  # --set beats the profile
    assert r.train.max_depth == 2  # the profile beats the recipe


def test_profile_paths_may_be_strings(recipe_path: Path, tmp_path: Path) -> None:
    prof = _profile(tmp_path, "p.yaml", "train: {eta: 0.25}\n")
    assert mlscale.load_recipe(str(recipe_path), profiles=[str(prof)]).train.eta == 0.25


def test_profile_may_add_a_whole_section(recipe_path: Path, tmp_path: Path) -> None:
    prof = _profile(tmp_path, "tune.yaml", "tune: {num_samples: 3, space: {max_depth: {randint: [2, 6]}}}\n")
    r = mlscale.load_recipe(recipe_path, profiles=[prof])
    assert r.tune is not None and r.tune.num_samples == 3
    assert r.tune.space["max_depth"].kind == "randint"


def test_engine_argument_sets_engine_name(recipe_path: Path) -> None:
    r = mlscale.load_recipe(recipe_path, engine="ray")
    assert r.engine.name == "ray"
    assert r.engine.workers == 3  # the rest of the engine section is kept


def test_engine_argument_wins_over_set_and_profile(recipe_path: Path, tmp_path: Path) -> None:
    prof = _profile(tmp_path, "p.yaml", "engine: {name: ray}\n")
    r = mlscale.load_recipe(recipe_path, profiles=[prof], overrides=["engine.name=ray"], engine="local")
    assert r.engine.name == "local"


def test_engine_none_keeps_the_recipe(recipe_path: Path) -> None:
    assert mlscale.load_recipe(recipe_path, engine=None).engine.name == "local"


def test_overrides_do_not_touch_the_file(recipe_path: Path) -> None:
    mlscale.load_recipe(recipe_path, overrides=["train.eta=0.3"], engine="ray")
    assert recipe_path.read_text() == RECIPE


def test_bad_set_path_is_rejected_before_merging(recipe_path: Path, tmp_path: Path) -> None:
    # the profile alone would be fine; the error names the --set key, not the file
    prof = _profile(tmp_path, "p.yaml", "train: {eta: 0.2}\n")
    with pytest.raises(RecipeError) as info:
        mlscale.load_recipe(recipe_path, profiles=[prof], overrides=["train.etaa=0.1"])
    assert str(info.value) == "--set train.etaa: train has no key 'etaa' (did you mean 'eta'?)"


# --- the shipped recipes ------------------------------------------------------------------------------


def test_recipes_exist() -> None:
    assert len(RECIPES) >= 4, RECIPES


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_shipped_recipe_validates(path: Path) -> None:
    r = mlscale.load_recipe(path)
    assert r.name == path.stem
    assert r.engine.name == "local"  # recipes never pick Ray on their own
    assert recipe_hash(r) == recipe_hash(mlscale.load_recipe(path))
    assert len(recipe_hash(r)) == 12


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_resolved_yaml_validates_to_the_same_recipe(path: Path) -> None:
    """What `mlscale validate` prints (and the run logs as recipe.yaml) must reproduce the recipe."""
    r = mlscale.load_recipe(path)
    again = validate(yaml.safe_load(recipe_yaml(r)), source=str(path))
    assert again.model_dump() == r.model_dump()
    assert recipe_hash(again) == recipe_hash(r)


def test_resolved_yaml_keeps_a_null_that_overrides_a_default(recipe_path: Path) -> None:
    r = mlscale.load_recipe(recipe_path, overrides=["train.early_stopping_rounds=null"])
    assert r.train.early_stopping_rounds is None
    again = validate(yaml.safe_load(recipe_yaml(r)))
    assert again.train.early_stopping_rounds is None


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_shipped_recipe_takes_overrides(path: Path) -> None:
    r = mlscale.load_recipe(path, overrides=["train.num_boost_round=5"], engine="ray")
    assert r.train.num_boost_round == 5 and r.engine.name == "ray"
    assert recipe_hash(r) != recipe_hash(mlscale.load_recipe(path))
