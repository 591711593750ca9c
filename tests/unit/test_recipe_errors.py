"""Bad-input corpus: every broken recipe fails with one exact, one-line RecipeError.

Expected messages use two placeholders, replaced per test:
    {recipe}  the recipe file's path (tmp_path / "r.yaml")
    {dir}     tmp_path
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import mlscale
from mlscale import RecipeError

BASE = "name: t\ndata: {source: sklearn, dataset: iris}\n"
SPACE_OK = "space: {eta: {uniform: [0.1, 0.2]}}"


@dataclass
class Case:
    text: str | None  # recipe YAML; None: the recipe file does not exist
    expected: str
    kwargs: dict[str, Any] = field(default_factory=dict)  # strings may hold {dir}
    files: dict[str, str] = field(default_factory=dict)  # extra files (profiles) next to the recipe


CASES: dict[str, Case] = {
    # --- keys -------------------------------------------------------------------------------------
    "unknown-top-level-key": Case(
        BASE + "trian: {eta: 0.1}\n",
        "{recipe}: unknown key trian (did you mean 'train'?)",
    ),
    "unknown-nested-key": Case(
        BASE + "train: {num_boost_rounds: 5}\n",
        "{recipe}: unknown key train.num_boost_rounds (did you mean 'num_boost_round'?)",
    ),
    "unknown-deep-key": Case(
        "name: t\ndata: {source: sklearn, dataset: iris, split: {vaild: 0.2}}\n",
        "{recipe}: unknown key data.split.vaild (did you mean 'valid'?)",
    ),
    "unknown-key-no-suggestion": Case(
        BASE + "train: {banana: 1}\n",
        "{recipe}: unknown key train.banana",
    ),
    "unknown-key-in-search-dim": Case(
        BASE + "tune: {space: {eta: {kind: uniform, low: 0.1, high: 0.2, step: 1}}}\n",
        "{recipe}: unknown key tune.space.eta.step",
    ),
    "missing-name": Case("data: {source: sklearn, dataset: iris}\n", "{recipe}: name is required"),
    "missing-data": Case("name: t\n", "{recipe}: data is required"),
    # --- types ------------------------------------------------------------------------------------
    "wrong-type-int": Case(
        BASE + "train: {max_depth: deep}\n",
        "{recipe}: train.max_depth must be an int, got 'deep'",
    ),
    "wrong-type-int-from-float": Case(
        BASE + "train: {num_boost_round: 10.5}\n",
        "{recipe}: train.num_boost_round must be an int, got 10.5",
    ),
    "wrong-type-number": Case(
        BASE + "train: {eta: fast}\n",
        "{recipe}: train.eta must be a number, got 'fast'",
    ),
    "wrong-type-list": Case(
        BASE + "train: {eval_metric: auc}\n",
        "{recipe}: train.eval_metric must be a list, got 'auc'",
    ),
    "yaml-boolean-for-a-choice": Case(
        BASE + f"tune: {{scheduler: off, {SPACE_OK}}}\n",
        "{recipe}: tune.scheduler must be one of none or asha, got false (YAML reads a bare on/off/yes/no "
        "as true/false)",
    ),
    "wrong-type-bool": Case(
        BASE + "engine: {ray: {dashboard: maybe}}\n",
        "{recipe}: engine.ray.dashboard must be true or false, got 'maybe'",
    ),
    "wrong-type-string": Case(
        BASE + "mlflow: {tracking_uri: 5}\n",
        "{recipe}: mlflow.tracking_uri must be a string, got 5",
    ),
    "section-not-a-mapping": Case(BASE + "train: 5\n", "{recipe}: train must be a mapping, got 5"),
    "name-not-a-string": Case(
        "name: 123\ndata: {source: sklearn, dataset: iris}\n",
        "{recipe}: name must be a string, got 123",
    ),
    # --- ranges -----------------------------------------------------------------------------------
    "eta-zero": Case(BASE + "train: {eta: 0}\n", "{recipe}: train.eta must be a number > 0.0, got 0"),
    "eta-above-one": Case(
        BASE + "train: {eta: 1.5}\n", "{recipe}: train.eta must be a number <= 1.0, got 1.5"
    ),
    "num-boost-round-zero": Case(
        BASE + "train: {num_boost_round: 0}\n",
        "{recipe}: train.num_boost_round must be an int >= 1, got 0",
    ),
    "max-depth-negative": Case(
        BASE + "train: {max_depth: -1}\n",
        "{recipe}: train.max_depth must be an int >= 0, got -1",
    ),
    "workers-zero": Case(
        BASE + "engine: {workers: 0}\n",
        "{recipe}: engine.workers must be an int >= 1, got 0",
    ),
    "synthetic-too-few-rows": Case(
        "name: t\ndata: {source: synthetic, synthetic: {n_rows: 5}}\n",
        "{recipe}: data.synthetic.n_rows must be an int >= 10, got 5",
    ),
    "split-valid-plus-test-ge-1": Case(
        "name: t\ndata: {source: sklearn, dataset: iris, split: {valid: 0.5, test: 0.5}}\n",
        "{recipe}: data.split: valid + test must be < 1, got 0.5 + 0.5",
    ),
    # --- choices ----------------------------------------------------------------------------------
    "unknown-engine": Case(
        BASE + "engine: {name: spark}\n",
        "{recipe}: engine.name: unknown engine 'spark', expected one of local, ray, dask",
    ),
    "unknown-source": Case(
        "name: t\ndata: {source: json, path: x.json}\n",
        "{recipe}: data.source must be one of csv, parquet, sklearn or synthetic, got 'json'",
    ),
    "unknown-sklearn-dataset": Case(
        "name: t\ndata: {source: sklearn, dataset: mnist}\n",
        "{recipe}: data.dataset must be one of breast_cancer, wine, digits, diabetes or iris, got 'mnist'",
    ),
    "unknown-task": Case(
        BASE + "task: classification\n",
        "{recipe}: task must be one of binary, multiclass or regression, got 'classification'",
    ),
    "unknown-tune-mode": Case(
        BASE + f"tune: {{mode: up, {SPACE_OK}}}\n",
        "{recipe}: tune.mode must be one of min or max, got 'up'",
    ),
    # --- search spaces ----------------------------------------------------------------------------
    "loguniform-low-zero": Case(
        BASE + "tune: {space: {eta: {loguniform: [0, 0.3]}}}\n",
        "{recipe}: tune.space.eta: loguniform needs 0 < low < high, got low=0, high=0.3",
    ),
    "uniform-low-ge-high": Case(
        BASE + "tune: {space: {subsample: {uniform: [1.0, 0.5]}}}\n",
        "{recipe}: tune.space.subsample: uniform needs low < high, got low=1, high=0.5",
    ),
    "uniform-low-eq-high": Case(
        BASE + "tune: {space: {subsample: {uniform: [0.5, 0.5]}}}\n",
        "{recipe}: tune.space.subsample: uniform needs low < high, got low=0.5, high=0.5",
    ),
    "randint-non-integer": Case(
        BASE + "tune: {space: {max_depth: {randint: [2.5, 8]}}}\n",
        "{recipe}: tune.space.max_depth: randint needs integer bounds, got low=2.5, high=8",
    ),
    "unknown-search-kind": Case(
        BASE + "tune: {space: {eta: {normal: [0, 1]}}}\n",
        "{recipe}: tune.space.eta: unknown search kind 'normal', "
        "expected one of randint, uniform, loguniform, choice, quniform",
    ),
    "quniform-missing-q-short-form": Case(
        BASE + "tune: {space: {min_child_weight: {quniform: [1, 6]}}}\n",
        "{recipe}: tune.space.min_child_weight: quniform needs [low, high, q], got [1, 6]",
    ),
    "quniform-missing-q-long-form": Case(
        BASE + "tune: {space: {min_child_weight: {kind: quniform, low: 1, high: 6}}}\n",
        "{recipe}: tune.space.min_child_weight: quniform needs q > 0, got q=None",
    ),
    "search-args-not-a-list": Case(
        BASE + "tune: {space: {eta: {uniform: 0.1}}}\n",
        "{recipe}: tune.space.eta: uniform needs a list, got 0.1",
    ),
    "search-args-wrong-length": Case(
        BASE + "tune: {space: {eta: {uniform: [0.1]}}}\n",
        "{recipe}: tune.space.eta: uniform needs [low, high], got [0.1]",
    ),
    "search-dim-scalar": Case(
        BASE + "tune: {space: {eta: 0.1}}\n",
        "{recipe}: tune.space.eta: must be a mapping like {uniform: [low, high]}, got 0.1",
    ),
    "search-long-form-missing-high": Case(
        BASE + "tune: {space: {eta: {kind: uniform, low: 0.1}}}\n",
        "{recipe}: tune.space.eta: uniform needs numeric low and high",
    ),
    "search-nan-bound": Case(
        BASE + "tune: {space: {eta: {uniform: [.nan, 0.2]}}}\n",
        "{recipe}: tune.space.eta: uniform needs numeric low and high",
    ),
    "choice-empty": Case(
        BASE + "tune: {space: {eta: {choice: []}}}\n",
        "{recipe}: tune.space.eta: choice needs a non-empty list of values",
    ),
    "space-empty": Case(BASE + "tune: {space: {}}\n", "{recipe}: tune.space: needs at least one parameter"),
    # --- tune metric ------------------------------------------------------------------------------
    "tune-metric-not-valid": Case(
        BASE + f"tune: {{metric: test_auc, {SPACE_OK}}}\n",
        "{recipe}: tune: metric must be a validation metric like valid_auc, got 'test_auc'",
    ),
    "asha-non-xgboost-metric": Case(
        BASE + f"tune: {{metric: valid_f1, scheduler: asha, {SPACE_OK}}}\n",
        "{recipe}: tune: asha needs a per-round xgboost metric "
        "(auc, aucpr, error, logloss, mae, merror, mlogloss, rmse), got 'valid_f1'",
    ),
    # --- YAML and files ---------------------------------------------------------------------------
    "yaml-syntax-error": Case(
        "name: t\ndata: {source: sklearn}\n  bad: 1\n",
        "{recipe}:3: invalid YAML: while parsing a block mapping expected <block end>, "
        "but found '<block mapping start>'",
    ),
    "yaml-tab-indent": Case(
        "name: t\ndata:\n\tsource: csv\n",
        "{recipe}:3: invalid YAML: while scanning for the next token found character '\\t' "
        "that cannot start any token",
    ),
    "empty-file": Case("", "{recipe}: recipe is empty"),
    "only-comments": Case("# nothing here\n", "{recipe}: recipe is empty"),
    "top-level-list": Case("- a\n- b\n", "{recipe}: recipe must be a mapping at the top level, got list"),
    "top-level-scalar": Case("hello\n", "{recipe}: recipe must be a mapping at the top level, got str"),
    "missing-recipe-file": Case(None, "{recipe}: recipe file not found"),
    "unknown-profile-file": Case(
        BASE,
        "{dir}/prod.yaml: profile file not found",
        kwargs={"profiles": ["{dir}/prod.yaml"]},
    ),
    "profile-top-level-list": Case(
        BASE,
        "{dir}/prod.yaml: profile must be a mapping at the top level, got list",
        kwargs={"profiles": ["{dir}/prod.yaml"]},
        files={"prod.yaml": "- train\n"},
    ),
    "profile-bad-value": Case(
        BASE,
        "{recipe}: train.max_depth must be an int >= 0, got -3",
        kwargs={"profiles": ["{dir}/prod.yaml"]},
        files={"prod.yaml": "train: {max_depth: -3}\n"},
    ),
    # --- --set and engine= ------------------------------------------------------------------------
    "set-without-equals": Case(
        BASE,
        "--set: expected KEY=VALUE with a dotted KEY like train.eta=0.1, got 'train.eta'",
        kwargs={"overrides": ["train.eta"]},
    ),
    "set-empty-key": Case(
        BASE,
        "--set: expected KEY=VALUE with a dotted KEY like train.eta=0.1, got '=5'",
        kwargs={"overrides": ["=5"]},
    ),
    "set-empty-path-part": Case(
        BASE,
        "--set: expected KEY=VALUE with a dotted KEY like train.eta=0.1, got 'train..eta=1'",
        kwargs={"overrides": ["train..eta=1"]},
    ),
    "set-missing-nested-path": Case(
        BASE,
        "--set train.num_boost_rounds: train has no key 'num_boost_rounds' (did you mean 'num_boost_round'?)",
        kwargs={"overrides": ["train.num_boost_rounds=5"]},
    ),
    "set-missing-top-level-path": Case(
        BASE,
        "--set tarin.eta: the recipe has no key 'tarin' (did you mean 'train'?)",
        kwargs={"overrides": ["tarin.eta=1"]},
    ),
    "set-into-a-scalar": Case(
        BASE,
        "--set name.x: name is a str, not a section",
        kwargs={"overrides": ["name.x=1"]},
    ),
    "set-bad-value": Case(
        BASE,
        "{recipe}: train.eta must be a number, got 'x'",
        kwargs={"overrides": {"train.eta": "x"}},
    ),
    "set-breaks-cross-field-rule": Case(
        BASE,
        "{recipe}: data.split: valid + test must be < 1, got 0.9 + 0.15",
        kwargs={"overrides": ["data.split.valid=0.9"]},
    ),
    "engine-argument-unknown": Case(
        BASE,
        "{recipe}: engine.name: unknown engine 'spark', expected one of local, ray, dask",
        kwargs={"engine": "spark"},
    ),
    # --- cross-field rules ------------------------------------------------------------------------
    "csv-without-path": Case("name: t\ndata: {source: csv}\n", "{recipe}: data: source csv needs data.path"),
    "parquet-without-path": Case(
        "name: t\ndata: {source: parquet}\n", "{recipe}: data: source parquet needs data.path"
    ),
    "sklearn-without-dataset": Case(
        "name: t\ndata: {source: sklearn}\n",
        "{recipe}: data: source sklearn needs data.dataset "
        "(one of breast_cancer, wine, digits, diabetes, iris)",
    ),
    "preprocess-without-colon": Case(
        "name: t\ndata: {source: sklearn, dataset: iris, preprocess: mymodule}\n",
        "{recipe}: data: preprocess must look like 'module:function', got 'mymodule'",
    ),
    "params-shadow-a-field": Case(
        BASE + "train: {params: {eta: 0.1}}\n",
        "{recipe}: train.params: eta is a train field: set train.eta instead of train.params",
    ),
    "objective-contradicts-task": Case(
        BASE + "task: binary\ntrain: {params: {objective: 'reg:squarederror'}}\n",
        "{recipe}: train.params.objective 'reg:squarederror' does not fit task binary",
    ),
    "objective-contradicts-regression": Case(
        BASE + "task: regression\ntrain: {params: {objective: 'multi:softprob'}}\n",
        "{recipe}: train.params.objective 'multi:softprob' does not fit task regression",
    ),
    "asha-grace-beyond-the-rounds": Case(
        BASE + f"train: {{num_boost_round: 50}}\ntune: {{scheduler: asha, grace_period: 50, {SPACE_OK}}}\n",
        "{recipe}: tune.grace_period must be < train.num_boost_round for asha (it stops trials between the "
        "two), got 50 >= 50",
    ),
    "ray-data-reads-need-files": Case(
        BASE + "engine: {name: ray, train_data: ray_data}\n",
        "{recipe}: engine.ray.train_data ray_data needs a csv or parquet data source without data.preprocess, "
        "got source sklearn",
    ),
    "train-data-unknown": Case(
        BASE + "engine: {train_data: disk}\n",
        "{recipe}: engine.ray.train_data must be one of auto, object_store or ray_data, got 'disk'",
    ),
    "num-class-with-binary": Case(
        BASE + "task: binary\ntrain: {params: {num_class: 3}}\n",
        "{recipe}: train.params.num_class is a multiclass setting, but task is binary",
    ),
    "name-with-spaces": Case(
        "name: my recipe\ndata: {source: sklearn, dataset: iris}\n",
        "{recipe}: name must be letters, digits, '_', '.' or '-' (starting with a letter or digit), "
        "got 'my recipe'",
    ),
    "name-starting-with-dash": Case(
        "name: -x\ndata: {source: sklearn, dataset: iris}\n",
        "{recipe}: name must be letters, digits, '_', '.' or '-' (starting with a letter or digit), got '-x'",
    ),
    # --- what xgboost or sklearn would refuse only after the run started --------------------------------
    "params-int-with-a-fraction": Case(
        BASE + "train: {params: {max_leaves: 2.5}}\n",
        "{recipe}: train.params: max_leaves must be an int, got 2.5",
    ),
    "params-int-as-text": Case(
        BASE + "train: {params: {max_cat_threshold: many}}\n",
        "{recipe}: train.params: max_cat_threshold must be an int, got 'many'",
    ),
    "params-int-as-bool": Case(
        BASE + "train: {params: {num_parallel_tree: true}}\n",
        "{recipe}: train.params: num_parallel_tree must be an int, got True",
    ),
    "synthetic-informative-beyond-features": Case(
        "name: t\ndata: {source: synthetic, synthetic: {n_features: 3, n_informative: 5}}\n",
        "{recipe}: data.synthetic: n_informative must be <= n_features, got 5 > 3",
    ),
    "synthetic-too-few-informative-for-the-classes": Case(
        "name: t\ndata: {source: synthetic, synthetic: {n_features: 4, n_informative: 2, n_classes: 3}}\n",
        "{recipe}: data.synthetic: 3 classes need n_informative >= 3 (n_classes * 2 <= 2 ** n_informative), "
        "got 2",
    ),
    "synthetic-one-feature-two-classes": Case(
        "name: t\ndata: {source: synthetic, synthetic: {n_features: 1}}\n",
        "{recipe}: data.synthetic: 2 classes need n_informative >= 2 (n_classes * 2 <= 2 ** n_informative), "
        "got 1",
    ),
}


def _fill(value: Any, recipe: Path, tmp_path: Path) -> Any:
    if isinstance(value, str):
        return value.replace("{recipe}", str(recipe)).replace("{dir}", str(tmp_path))
    if isinstance(value, list):
        return [_fill(v, recipe, tmp_path) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, recipe, tmp_path) for k, v in value.items()}
    return value


def _load(case: Case, tmp_path: Path) -> RecipeError:
    recipe = tmp_path / "r.yaml"
    if case.text is not None:
        recipe.write_text(case.text, encoding="utf-8")
    for name, text in case.files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(RecipeError) as info:
        mlscale.load_recipe(recipe, **_fill(case.kwargs, recipe, tmp_path))
    return info.value


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_exact_message(case: Case, tmp_path: Path) -> None:
    exc = _load(case, tmp_path)
    assert str(exc) == _fill(case.expected, tmp_path / "r.yaml", tmp_path)
    assert exc.message == str(exc)
    assert exc.exit_code == 2


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_message_is_one_line(case: Case, tmp_path: Path) -> None:
    message = str(_load(case, tmp_path))
    assert message.strip() == message
    assert len(message.splitlines()) == 1
    assert "\r" not in message and "\n" not in message
    assert "pydantic" not in message.lower() and "Traceback" not in message


def _cli_args(case: Case, recipe: Path, tmp_path: Path) -> list[str]:
    kwargs = _fill(case.kwargs, recipe, tmp_path)
    args = ["run", str(recipe)]
    for profile in kwargs.get("profiles", []):
        args += ["--profile", profile]
    overrides = kwargs.get("overrides", [])
    for item in overrides.items() if isinstance(overrides, dict) else overrides:
        args += ["--set", f"{item[0]}={item[1]}" if isinstance(item, tuple) else item]
    if "engine" in kwargs:
        args += ["--engine", kwargs["engine"]]
    return args


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_cli_run_refuses_in_one_line_and_writes_nothing(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The whole corpus through `mlscale run`: exit 2, one error line, no traceback, no file, no run."""
    from mlscale.cli import main

    recipe = tmp_path / "r.yaml"
    if case.text is not None:
        recipe.write_text(case.text, encoding="utf-8")
    for name, text in case.files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    before = set(tmp_path.rglob("*"))
    environ = dict(os.environ)  # the CLI quiets MLflow and Ray through the environment: keep it to this test
    try:
        with pytest.raises(SystemExit) as exited:
            main(_cli_args(case, recipe, tmp_path))
    finally:
        os.environ.clear()
        os.environ.update(environ)
    out, err = capsys.readouterr()
    assert exited.value.code == 2, err
    assert err == f"error: {_fill(case.expected, recipe, tmp_path)}\n"
    assert out == ""
    assert set(tmp_path.rglob("*")) == before  # no mlflow.db, no output, no partial files


YAML_ODDITIES: dict[str, tuple[str | bytes, str]] = {
    "unclosed-quote": (
        "name: 't\ndata: {}\n",
        "{recipe}:1: invalid YAML: while scanning a quoted scalar found unexpected end of stream",
    ),
    "undefined-alias": ("name: *nope\n", "{recipe}:1: invalid YAML: found undefined alias 'nope'"),
    "python-tag-is-refused": (
        "name: !!python/object/apply:os.system ['true']\n",
        "{recipe}:1: invalid YAML: could not determine a constructor for the tag "
        "'tag:yaml.org,2002:python/object/apply:os.system'",
    ),
    "not-utf-8": (
        b"name: caf\xe9\n",
        "{recipe}: cannot read recipe (UnicodeDecodeError: 'utf-8' codec can't decode byte 0xe9 "
        "in position 9: invalid continuation byte)",
    ),
    # Weaker messages, still one line naming the file:
    "unclosed-flow-sequence": ("name: t\ndata:\n  source: [sklearn\n", ""),
    "multi-document": ("name: a\n---\nname: b\n", ""),
}


@pytest.mark.parametrize("name", list(YAML_ODDITIES))
def test_yaml_failures(name: str, tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    text, expected = YAML_ODDITIES[name]
    if isinstance(text, bytes):
        recipe.write_bytes(text)
    else:
        recipe.write_text(text, encoding="utf-8")
    with pytest.raises(RecipeError) as info:
        mlscale.load_recipe(recipe)
    message = str(info.value)
    assert message.startswith(f"{recipe}")
    assert len(message.splitlines()) == 1
    if expected:
        assert message == _fill(expected, recipe, tmp_path)


def test_validation_error_is_not_chained(tmp_path: Path) -> None:
    """`from None`: the CLI's --verbose traceback shows mlscale's message, not pydantic's dump."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(BASE + "train: {eta: 0}\n")
    with pytest.raises(RecipeError) as info:
        mlscale.load_recipe(recipe)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__ is True


def test_directory_as_recipe(tmp_path: Path) -> None:
    with pytest.raises(RecipeError) as info:
        mlscale.load_recipe(tmp_path)
    assert str(info.value) == f"{tmp_path}: recipe file not found"


# --- known problems, reported to the library owner; strict so a fix shows up as XPASS -> failure --------


def test_misspelt_required_key_suggests_the_name(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("nam: t\ndata: {source: sklearn, dataset: iris}\n")
    with pytest.raises(RecipeError) as info:
        mlscale.load_recipe(recipe)
    assert str(info.value) == f"{recipe}: unknown key nam (did you mean 'name'?)"


def test_duplicate_keys_are_rejected(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(BASE + "train: {eta: 0.1}\ntrain: {max_depth: 3}\n")
    with pytest.raises(RecipeError) as info:
        mlscale.load_recipe(recipe)
    assert str(info.value) == f"{recipe}:4: invalid YAML: duplicate key 'train'"


def test_literal_error_keeps_apostrophes_in_the_value(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(BASE + 'task: "it\'s"\n')
    with pytest.raises(RecipeError) as info:
        mlscale.load_recipe(recipe)
    assert "it's" in str(info.value)


def test_multi_document_message_reads_as_a_sentence(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: a\n---\nname: b\n")
    with pytest.raises(RecipeError) as info:
        mlscale.load_recipe(recipe)
    assert str(info.value) == (
        f"{recipe}:2: invalid YAML: expected a single document in the stream, but found another document"
    )


def test_unclosed_bracket_points_at_the_bracket(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: t\ndata:\n  source: [sklearn\n")
    with pytest.raises(RecipeError) as info:
        mlscale.load_recipe(recipe)
    assert str(info.value).startswith(f"{recipe}:3: ")


@pytest.mark.parametrize("field", ["max_depth", "eta", "num_boost_round"])
def test_yaml_booleans_are_not_numbers(tmp_path: Path, field: str) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: t\ndata: {{source: sklearn, dataset: iris}}\ntrain: {{{field}: true}}\n")
    with pytest.raises(RecipeError) as info:
        mlscale.load_recipe(recipe)
    assert str(info.value) == f"{recipe}: train.{field}: expected a number, got True"


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("evaluate.reference", "off", "off"),  # as the README writes it
        ("evaluate.reference", "Off", "off"),
        ("evaluate.reference", "no", "off"),
        ("evaluate.reference", "'off'", "off"),
        ("train.external_memory", "off", "off"),
        ("train.external_memory", "on", "on"),
        ("train.external_memory", "yes", "on"),
    ],
)
def test_yaml_on_off_is_the_choice_of_that_name(tmp_path: Path, key: str, value: str, expected: str) -> None:
    """YAML 1.1 reads a bare on/off/yes/no as true/false: every field of named choices takes it as the
    choice 'on'/'off' it has, in the file and in --set alike."""
    section, name = key.split(".")
    in_file, plain = tmp_path / "in_file.yaml", tmp_path / "plain.yaml"
    in_file.write_text(BASE + f"{section}: {{{name}: {value}}}\n")
    plain.write_text(BASE)
    for loaded in (mlscale.load_recipe(in_file), mlscale.load_recipe(plain, overrides=[f"{key}={value}"])):
        assert getattr(getattr(loaded, section), name) == expected


# --- YAML a recipe refuses: bombs, odd keys, deep nesting, oversized files (exit 2, one line) ----------

BOMB = (
    BASE
    + "train:\n  params:\n    a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
    + "".join(
        f"    {n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdef", "bcdefg", strict=True)
    )
)

YAML_REFUSALS: dict[str, tuple[str, str]] = {
    "alias-bomb": (
        BOMB,
        "{recipe}:5: YAML anchors and aliases are not allowed (found &a); write the value out",
    ),
    "anchor-alone": (
        BASE + "train: &t {eta: 0.1}\n",
        "{recipe}:3: YAML anchors and aliases are not allowed (found &t); write the value out",
    ),
    "merge-key": (
        BASE + "train:\n  <<: {eta: 0.1}\n  max_depth: 3\n",
        "{recipe}:4: YAML merge keys (<<) are not allowed; write the keys out",
    ),
    "unhashable-key": (
        BASE + "? [a, b]\n: 1\n",
        "{recipe}:3: a YAML mapping key must be a plain value, got a list",
    ),
    "mapping-as-key": (
        BASE + "? {a: 1}\n: 1\n",
        "{recipe}:3: a YAML mapping key must be a plain value, got a mapping",
    ),
    "deep-nesting": (
        BASE + "train: {params: {x: " + "[" * 3000 + "]" * 3000 + "}}\n",
        "{recipe}:3: YAML nested more than 50 levels deep is not allowed",
    ),
}


@pytest.mark.parametrize("name", list(YAML_REFUSALS))
def test_yaml_refusals(name: str, tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    text, expected = YAML_REFUSALS[name]
    recipe.write_text(text, encoding="utf-8")
    with pytest.raises(RecipeError) as info:
        mlscale.load_recipe(recipe)
    assert str(info.value) == _fill(expected, recipe, tmp_path)
    assert info.value.exit_code == 2


@pytest.mark.parametrize("name", list(YAML_REFUSALS))
def test_yaml_refusals_in_a_profile(name: str, tmp_path: Path) -> None:
    recipe, profile = tmp_path / "r.yaml", tmp_path / "p.yaml"
    recipe.write_text(BASE, encoding="utf-8")
    profile.write_text(YAML_REFUSALS[name][0], encoding="utf-8")
    with pytest.raises(RecipeError) as info:
        mlscale.load_recipe(recipe, profiles=[profile])
    assert str(info.value) == _fill(YAML_REFUSALS[name][1], profile, tmp_path)


def _cli_exit(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    from conftest import cli_in_process

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return cli_in_process(args, capsys)


@pytest.mark.parametrize("name", list(YAML_REFUSALS))
@pytest.mark.parametrize("command", ["run", "validate"])
def test_yaml_refusals_through_the_cli(
    name: str,
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(YAML_REFUSALS[name][0], encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    before = set(tmp_path.rglob("*"))
    code, out, err = _cli_exit([command, str(recipe)], monkeypatch, capsys)
    assert (code, out, err) == (2, "", f"error: {_fill(YAML_REFUSALS[name][1], recipe, tmp_path)}\n")
    assert set(tmp_path.rglob("*")) == before


def test_alias_bomb_is_refused_fast(tmp_path: Path) -> None:
    """A few hundred bytes that expand to 9**7 values: refused before anything is expanded."""
    import time

    recipe = tmp_path / "r.yaml"
    recipe.write_text(BOMB, encoding="utf-8")
    started = time.perf_counter()
    with pytest.raises(RecipeError):
        mlscale.load_recipe(recipe)
    assert time.perf_counter() - started < 0.5


def test_oversized_recipe_is_refused_before_reading(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(BASE + "description: '" + "x" * 1_000_000 + "'\n", encoding="utf-8")
    size = recipe.stat().st_size
    with pytest.raises(RecipeError) as info:
        mlscale.load_recipe(recipe)
    assert (
        str(info.value)
        == f"{recipe}: recipe is {size} bytes, more than the 1 MB (1000000 bytes) a recipe may be"
    )


def test_recipe_just_under_the_size_cap_loads(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    head = BASE + "description: '"
    recipe.write_text(head + "x" * (1_000_000 - len(head) - 3) + "'\n", encoding="utf-8")
    assert recipe.stat().st_size == 1_000_000 - 1
    assert mlscale.load_recipe(recipe).name == "t"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("{a: 1, a: 2}", "duplicate key 'a'"),
        ("{a: &x 1, b: *x}", "YAML anchors and aliases are not allowed (found &x); write the value out"),
        ("{<<: {a: 1}}", "YAML merge keys (<<) are not allowed; write the keys out"),
        ("{? [a]: 1}", "a YAML mapping key must be a plain value, got a list"),
        ("[" * 3000 + "]" * 3000, "YAML nested more than 50 levels deep is not allowed"),
    ],
)
def test_set_values_refuse_odd_yaml(
    value: str,
    problem: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(BASE, encoding="utf-8")
    with pytest.raises(RecipeError) as info:
        mlscale.load_recipe(recipe, overrides=[f"train.params={value}"])
    assert str(info.value) == f"--set train.params: {problem}"
    code, out, err = _cli_exit(
        ["validate", str(recipe), "--set", f"train.params={value}"], monkeypatch, capsys
    )
    assert (code, out, err) == (2, "", f"error: --set train.params: {problem}\n")


def test_yaml_anchor_in_a_quoted_string_is_just_text(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(BASE + "description: 'see &a and *a, <<'\n", encoding="utf-8")
    assert mlscale.load_recipe(recipe).description == "see &a and *a, <<"


def test_libyaml_parses_when_pyyaml_has_it() -> None:
    import yaml

    from mlscale.recipe import load

    assert (load._StrictLoader is not load._PyStrictLoader) == yaml.__with_libyaml__


@pytest.mark.parametrize("name", list(YAML_REFUSALS))
def test_yaml_refusals_without_libyaml(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same refusals, and duplicate keys, with PyYAML's pure-Python parser."""
    from mlscale.recipe import load

    monkeypatch.setattr(load, "_StrictLoader", load._PyStrictLoader)
    recipe = tmp_path / "r.yaml"
    text, expected = YAML_REFUSALS[name]
    recipe.write_text(text, encoding="utf-8")
    with pytest.raises(RecipeError) as info:
        mlscale.load_recipe(recipe)
    assert str(info.value) == _fill(expected, recipe, tmp_path)
    recipe.write_text(BASE + "train: {eta: 0.1}\ntrain: {max_depth: 3}\n")
    with pytest.raises(RecipeError) as info:
        mlscale.load_recipe(recipe)
    assert str(info.value) == f"{recipe}:4: invalid YAML: duplicate key 'train'"
