"""`mlscale init`'s scaffold: the recipe it writes loads with mlscale's own loader, says what it guessed,
and bad input is one line (no xgboost, no Ray, no MLflow)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlscale import DataError, RecipeError
from mlscale.data import prepare
from mlscale.recipe import Recipe
from mlscale.recipe.engine_config import RaySettings
from mlscale.recipe.load import load_recipe
from mlscale.recipe.schema import (
    DataConfig,
    EngineConfig,
    MlflowConfig,
    PredictConfig,
    SplitConfig,
    TrainConfig,
    TuneConfig,
)
from mlscale.scaffold import guess_target, id_columns, scaffold_recipe

N = 120
SECTION_COMMENTS = (
    "# Data:",
    "# Task:",
    "# Train:",
    "# Tune (optional):",
    "# Predict:",
    "# Engine:",
    "# MLflow:",
)
# Every key a commented-out setting may have: the schema's own fields plus the search-space parameters.
KNOWN_KEYS = {
    name
    for model in (
        Recipe,
        DataConfig,
        SplitConfig,
        TrainConfig,
        TuneConfig,
        PredictConfig,
        EngineConfig,
        RaySettings,
        MlflowConfig,
    )
    for name in model.model_fields
} | {"eta", "max_depth", "subsample", "colsample_bytree", "min_child_weight"}
OFF_SETTING = re.compile(r"^(\s*)# (\s*([a-z_]+):(?: .*)?)$")


def write_recipe(tmp_path: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def uncomment_all(text: str) -> str:
    """Turn every commented-out `# key: value` setting on, as a user would."""
    out = []
    for line in text.splitlines():
        m = OFF_SETTING.match(line)
        out.append(m.group(1) + m.group(2) if m and m.group(3) in KNOWN_KEYS else line)
    return "\n".join(out) + "\n"


def comment_on(text: str, line_start: str) -> str:
    """The trailing comment of the (first) line starting with `line_start`."""
    line = next(line for line in text.splitlines() if line.startswith(line_start))
    return line.split(" # ", 1)[1].strip()


def prose(text: str) -> str:
    """The whole-line comments, re-joined (the scaffold wraps long ones)."""
    lines = (line.strip() for line in text.splitlines())
    return " ".join(line[2:] for line in lines if line.startswith("# "))


def table(n: int = N, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "row_id": np.arange(1000, 1000 + n),
            "age": rng.integers(18, 80, n),
            "colour": rng.choice(["red", "green", "blue"], n),
            "spend": rng.normal(50, 10, n),
            "label": rng.choice(["no", "yes"], n),
        }
    )


def error_line(exc_type: type[Exception], **kwargs: Any) -> str:
    with pytest.raises(exc_type) as info:
        scaffold_recipe(**kwargs)
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert getattr(info.value, "exit_code", None) == 2
    return message


# --- without data: a scikit-learn demo data set per task ----------------------------------------------


@pytest.mark.parametrize(
    ("task", "dataset", "tune_metric", "eval_metric"),
    [
        (None, "breast_cancer", "valid_logloss", ["auc", "logloss"]),
        ("binary", "breast_cancer", "valid_logloss", ["auc", "logloss"]),
        ("multiclass", "wine", "valid_mlogloss", ["merror", "mlogloss"]),
        ("regression", "diabetes", "valid_rmse", ["mae", "rmse"]),
    ],
)
def test_demo_recipe_loads_for_every_task(
    tmp_path: Path, task: str | None, dataset: str, tune_metric: str, eval_metric: list[str]
) -> None:
    text = scaffold_recipe(task=task)
    recipe = load_recipe(write_recipe(tmp_path, text))
    assert recipe.name == dataset
    assert recipe.data.source == "sklearn"
    assert recipe.data.dataset == dataset
    assert recipe.data.target == "target"
    assert recipe.task == (task or "binary")
    assert recipe.train.eval_metric == eval_metric
    assert recipe.tune is None  # commented out, ready to uncomment
    assert (
        recipe.predict is not None and recipe.predict.id_columns == []
    )  # new data has no target to pass through
    assert recipe.predict.output == f"output/{dataset}/predictions.parquet"
    assert recipe.engine.name == "local"
    assert recipe.mlflow.experiment == dataset
    for heading in SECTION_COMMENTS:
        assert any(line.startswith(heading) for line in text.splitlines()), heading
    assert "# tune:" in text.splitlines()
    assert f"#   metric: {tune_metric}" in text
    assert comment_on(text, "task:") == f"the {dataset} data set is a {task or 'binary'} problem"
    assert "No --data given, so this recipe trains on scikit-learn's bundled" in prose(text)

    everything = load_recipe(write_recipe(tmp_path, uncomment_all(text), "all.yaml"))
    assert everything.tune is not None and everything.tune.metric == tune_metric
    assert set(everything.tune.space) == {
        "eta",
        "max_depth",
        "subsample",
        "colsample_bytree",
        "min_child_weight",
    }
    assert everything.engine.workers == 2 and everything.engine.ray.address == "auto"
    assert everything.train.subsample == 0.8
    assert everything.predict is not None and everything.predict.model == "runs:/RUN_ID/model"
    assert everything.mlflow.registered_model == dataset


def test_demo_name_and_target_options(tmp_path: Path) -> None:
    text = scaffold_recipe(task="multiclass", target="cultivar", name="my-wine.v1")
    recipe = load_recipe(write_recipe(tmp_path, text))
    assert (recipe.name, recipe.data.target, recipe.data.dataset) == ("my-wine.v1", "cultivar", "wine")
    assert recipe.predict is not None and recipe.predict.id_columns == []
    assert prepare(recipe).schema.target == "cultivar"  # the loader renames the data set's target column


def test_demo_target_that_is_a_feature_is_refused() -> None:
    assert error_line(DataError, task="multiclass", target="alcohol") == (
        "--target 'alcohol' is a feature of the wine demo data set; "
        "pick a new name for its target column, or pass --data"
    )


# --- from a data file ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_data_file_recipe_loads_and_prepares(tmp_path: Path, fmt: str) -> None:
    data = tmp_path / f"customers.{fmt}"
    df = table()
    df.to_csv(data, index=False) if fmt == "csv" else df.to_parquet(data, index=False)

    text = scaffold_recipe(data=str(data))
    path = write_recipe(tmp_path, text)
    recipe = load_recipe(path)
    assert recipe.name == "customers"
    assert recipe.data.source == fmt
    assert recipe.data.path == str(data)
    assert recipe.data.target == "label"
    assert recipe.task == "binary"
    assert recipe.data.exclude == ["row_id"]  # the id column is left out
    assert recipe.data.features is None
    assert prepare(recipe).schema.features == ["age", "colour", "spend"]
    assert recipe.data.categorical == ["colour"]
    assert recipe.predict is not None and recipe.predict.id_columns == ["row_id"]

    assert comment_on(text, "  target:") == "guessed from its name; pass --target COL to choose another"
    assert "  # Other target candidates: colour." in text  # a few text labels
    assert comment_on(text, "task:") == f"inferred from all {N} rows: target has 2 distinct values"
    assert comment_on(text, "  exclude:") == "never features: id columns, empty columns, leakage"
    assert comment_on(text, "  categorical:") == "text columns"
    assert comment_on(text, "  categorical_encoding:").startswith("native up to 32 levels")
    assert (
        comment_on(text, "  id_columns:")
        == f"row_id: a distinct value per row in all {N} rows, named like an id"
    )
    assert f"Data: {data} ({fmt} file, {N} rows, 5 columns)" in prose(text)
    for heading in SECTION_COMMENTS:
        assert any(line.startswith(heading) for line in text.splitlines()), heading

    # What mlscale run would do with it: the same categoricals and task, the id kept out of the model.
    dataset = prepare(recipe, source=str(path))
    assert dataset.schema.task == "binary"
    assert dataset.schema.features == ["age", "colour", "spend"]
    assert dataset.schema.categories == {"colour": ["blue", "green", "red"]}
    assert dataset.task_inferred is False

    everything = load_recipe(write_recipe(tmp_path, uncomment_all(text), "all.yaml"))
    assert everything.tune is not None and everything.data.preprocess == "my_pkg.prep:clean"


def test_task_line_removed_infers_the_same(tmp_path: Path) -> None:
    data = tmp_path / "t.csv"
    table().to_csv(data, index=False)
    text = scaffold_recipe(data=str(data))
    without_task = "\n".join(line for line in text.splitlines() if not line.startswith("task:")) + "\n"
    recipe = load_recipe(write_recipe(tmp_path, without_task))
    assert recipe.task is None
    dataset = prepare(recipe)
    assert dataset.schema.task == "binary" and dataset.notes[:1] == [
        "task inferred: binary (target has 2 distinct values)"
    ]


def test_target_guess_and_candidates(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    df = pd.DataFrame(
        {
            "a": rng.normal(size=N),
            "Outcome": rng.integers(0, 2, N),
            "flag": rng.choice([True, False], N),
            "LABEL": rng.integers(0, 3, N),
            "z": rng.normal(size=N),
        }
    )
    data = tmp_path / "d.parquet"
    df.to_parquet(data)
    text = scaffold_recipe(data=str(data))
    recipe = load_recipe(write_recipe(tmp_path, text))
    assert recipe.data.target == "LABEL"  # 'label' ranks above 'outcome'; names compare case-insensitively
    assert recipe.task == "multiclass"
    assert comment_on(text, "task:") == f"inferred from all {N} rows: target has 3 integer values"
    assert "  # Other target candidates: Outcome, z, flag." in text
    assert recipe.data.features is None  # no id column: the default, every column but the target
    assert "  # features: [a, Outcome, flag, z]" in text
    assert "  # categorical: []" in text


def test_last_column_is_the_fallback_target(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    data = tmp_path / "prices.csv"
    pd.DataFrame(
        {"rooms": rng.integers(1, 6, N), "area": rng.normal(80, 20, N), "price": rng.normal(3e5, 5e4, N)}
    ).to_csv(data, index=False)
    text = scaffold_recipe(data=str(data))
    recipe = load_recipe(write_recipe(tmp_path, text))
    assert recipe.data.target == "price"
    assert recipe.task == "regression"
    assert comment_on(text, "  target:") == "guessed: the last column; pass --target COL to choose another"
    assert (
        comment_on(text, "task:") == f"inferred from all {N} rows: target is numeric with {N} distinct values"
    )
    assert "Integer columns with few values, perhaps codes for categories: rooms (5 values)" in prose(text)
    assert recipe.predict is not None and recipe.predict.id_columns == []


def test_explicit_target_and_task(tmp_path: Path) -> None:
    data = tmp_path / "t.csv"
    table().to_csv(data, index=False)
    text = scaffold_recipe(data=str(data), target="age", task="regression", name="age_model")
    recipe = load_recipe(write_recipe(tmp_path, text))
    assert (recipe.name, recipe.data.target, recipe.task) == ("age_model", "age", "regression")
    assert prepare(recipe).schema.features == ["colour", "spend", "label"]
    assert recipe.data.categorical == ["colour", "label"]
    assert comment_on(text, "  target:") == "from --target"
    assert comment_on(text, "task:") == "from --task"
    assert "# The data alone suggests regression" not in text
    assert "Other target candidates" not in text
    assert prepare(recipe).schema.task == "regression"


def test_task_that_differs_from_the_inference_is_noted(tmp_path: Path) -> None:
    data = tmp_path / "t.csv"
    table().to_csv(data, index=False)
    text = scaffold_recipe(data=str(data), task="multiclass")
    assert load_recipe(write_recipe(tmp_path, text)).task == "multiclass"
    assert f"The data alone suggests binary (target has 2 distinct values in all {N} rows)." in prose(text)


def test_only_a_sample_is_read(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"x": rng.normal(size=200), "y": np.r_[np.zeros(50, int), np.arange(150) % 7]})
    csv, parquet = tmp_path / "s.csv", tmp_path / "s.parquet"
    df.to_csv(csv, index=False)
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), parquet, row_group_size=50)
    for data in (csv, parquet):
        # only zeros in the first 40 rows: the sample cannot tell the task
        assert error_line(DataError, data=str(data), sample_rows=40) == (
            f"{data}: column 'y' has a single value in the first 40 rows; cannot infer the task (pass --task)"
        )
        text = scaffold_recipe(data=str(data), sample_rows=60)
        assert comment_on(text, "task:") == "inferred from the first 60 rows: target has 7 integer values"
        assert "delete the task line to have it inferred at run time from all rows (and logged)." in prose(
            text
        )
        assert load_recipe(write_recipe(tmp_path, text)).task == "multiclass"
    text = scaffold_recipe(data=str(parquet), sample_rows=60, target="y")
    assert "(parquet file, 200 rows, 2 columns)" in prose(text)
    text = scaffold_recipe(data=str(csv), sample_rows=60, target="y")
    assert "(csv file, at least 60 rows, 2 columns)" in prose(text)


def test_odd_column_names_are_quoted(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    df = pd.DataFrame(
        {
            "yes": rng.normal(size=N),
            "a #b": rng.choice(["p", "q"], N),
            "null": rng.integers(0, 9, N),
            "class": rng.integers(0, 2, N),
        }
    )
    data = tmp_path / "odd name.csv"
    df.to_csv(data)  # with the index, read back as the id-like column 'Unnamed: 0'
    text = scaffold_recipe(data=str(data))
    recipe = load_recipe(write_recipe(tmp_path, text))
    assert recipe.name == "odd_name"
    assert recipe.data.path == str(data)
    assert recipe.data.target == "class"
    assert recipe.data.exclude == ["Unnamed: 0"]
    assert recipe.data.categorical == ["a #b"]
    assert recipe.predict is not None and recipe.predict.id_columns == ["Unnamed: 0"]
    assert prepare(recipe).schema.features == ["yes", "a #b", "null"]


def test_data_warnings_are_comments(tmp_path: Path) -> None:
    df = table()
    df.loc[[3, 7], "label"] = None
    df["empty"] = np.nan
    df["name"] = [f"person {i}" for i in range(N)]
    data = tmp_path / "w.parquet"
    df.to_parquet(data)
    text = scaffold_recipe(data=data, task="binary")  # a Path works too
    recipe = load_recipe(write_recipe(tmp_path, text))
    assert recipe.data.categorical == ["colour", "name"]
    notes = prose(text)
    assert (
        f"Column 'label' has 2 missing value(s) in all {N} rows: rows without a target are left out and "
        "counted (data.missing_target: drop; error refuses them)." in notes
    )
    assert recipe.data.missing_target == "drop"
    assert recipe.data.exclude == ["row_id", "empty"]
    assert f"Column(s) empty are empty in all {N} rows" in notes
    assert "Text column(s) name hold a distinct value on most rows" in notes
    prepared = prepare(recipe)  # what the notes announce
    assert prepared.missing_target_dropped == 2
    assert "empty" not in prepared.schema.features


def test_split_column_is_used(tmp_path: Path) -> None:
    df = table()
    df["split"] = np.where(np.arange(N) % 5 == 0, "valid", "train")
    data = tmp_path / "t.parquet"
    df.to_parquet(data)
    recipe = load_recipe(write_recipe(tmp_path, scaffold_recipe(data=str(data))))
    assert recipe.data.split.column == "split"
    assert prepare(recipe).schema.features == ["age", "colour", "spend"]
    assert len(prepare(recipe).x_valid) == N // 5


def test_directory_and_glob(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    table(seed=0).to_parquet(folder / "a.parquet")
    table(seed=1).to_parquet(folder / "b.parquet")
    text = scaffold_recipe(data=str(folder))
    recipe = load_recipe(write_recipe(tmp_path, text))
    assert (recipe.name, recipe.data.source, recipe.data.target) == ("parts", "parquet", "label")
    assert "the first of 2 parquet files" in prose(text)
    recipe = load_recipe(write_recipe(tmp_path, scaffold_recipe(data=f"{folder}/*.parquet")))
    assert recipe.name == "parts" and recipe.data.path == f"{folder}/*.parquet"
    assert len(prepare(recipe).y_train) > N


def test_helpers() -> None:
    df = table()
    df["customerId"] = [f"c{i}" for i in range(N)]
    df["paid"] = np.arange(N)  # unique, but not named like an id
    df["dup_id"] = 1  # named like an id, but not unique
    assert id_columns(df) == ["row_id", "customerId"]
    assert guess_target(df.drop(columns=["label"]), ["row_id", "customerId"]) == (
        "paid",
        "guessed: the last usable column",
        ["colour"],  # a few text labels; the last column, dup_id, holds a single value
    )


def test_no_heavy_imports(tmp_path: Path) -> None:
    data = tmp_path / "t.parquet"
    table().to_parquet(data)
    code = (
        "import sys\n"
        "from mlscale.scaffold import scaffold_recipe\n"
        f"scaffold_recipe(data={str(data)!r})\n"
        "scaffold_recipe(task='regression')\n"
        "heavy = sorted(m for m in ('ray', 'mlflow', 'xgboost') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# --- bad input: one line, exit code 2 ------------------------------------------------------------------


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    data = tmp_path / "x.csv"
    table().to_csv(data, index=False)
    return data


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    assert error_line(DataError, data=str(missing)) == f"--data: {missing} not found"
    assert error_line(DataError, data=f"{tmp_path}/*.csv") == f"--data: no files match {tmp_path}/*.csv"


def test_unknown_target(csv_file: Path) -> None:
    assert error_line(DataError, data=str(csv_file), target="foo") == (
        f"{csv_file}: --target 'foo' is not a column (columns: row_id, age, colour, spend, label)"
    )
    assert error_line(DataError, data=str(csv_file), target="labl") == (
        f"{csv_file}: --target 'labl' is not a column (did you mean 'label'?) "
        "(columns: row_id, age, colour, spend, label)"
    )


def test_task_contradicting_the_target(csv_file: Path) -> None:
    assert error_line(DataError, data=str(csv_file), target="colour", task="regression") == (
        f"{csv_file}: --task regression needs a numeric target; column 'colour' holds text"
    )
    assert error_line(DataError, data=str(csv_file), target="colour", task="binary") == (
        f"{csv_file}: --task binary needs a target with 2 classes; column 'colour' has 3 distinct values "
        f"in all {N} rows"
    )
    assert error_line(DataError, data=str(csv_file), target="spend", task="multiclass") == (
        f"{csv_file}: --task multiclass allows at most 50 classes; column 'spend' has {N} distinct values "
        f"in all {N} rows"
    )


def test_bool_target_is_not_regression(tmp_path: Path) -> None:
    data = tmp_path / "b.parquet"
    pd.DataFrame({"x": np.arange(10.0), "y": [True, False] * 5}).to_parquet(data)
    assert error_line(DataError, data=str(data), task="regression") == (
        f"{data}: --task regression needs a numeric target; column 'y' holds true/false values"
    )


def test_bad_options() -> None:
    assert error_line(RecipeError, task="ranking") == (
        "--task must be one of binary, multiclass, regression, got 'ranking'"
    )
    assert error_line(RecipeError, name="my job") == (
        "--name must be letters, digits, '_', '.' or '-' (starting with a letter or digit), got 'my job'"
    )


def test_unusable_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert error_line(DataError, data=str(empty)) == f"--data: {empty} is empty"
    header = tmp_path / "header.csv"
    header.write_text("a,b\n")
    assert error_line(DataError, data=str(header)) == f"{header}: has no rows"
    one = tmp_path / "one.csv"
    one.write_text("a\n1\n2\n")
    assert (
        error_line(DataError, data=str(one))
        == f"{one}: needs at least 2 columns (a target and a feature), found 1: a"
    )
    text = tmp_path / "data.txt"
    text.write_text("a,b\n1,2\n")
    assert error_line(DataError, data=str(text)) == (
        f"{text}: cannot tell the format from the name; expected a .csv or .parquet file"
    )
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    assert error_line(DataError, data=str(broken)).startswith(f"{broken}: cannot read as parquet (")
    constant = tmp_path / "constant.csv"
    constant.write_text("a,label\n1,0\n2,0\n")
    assert error_line(DataError, data=str(constant)) == (
        f"{constant}: column 'label' has a single value in all 2 rows; cannot infer the task (pass --task)"
    )
    ids_only = tmp_path / "ids.csv"
    ids_only.write_text("id,label\n1,0\n2,1\n")
    assert error_line(DataError, data=str(ids_only)) == (
        f"{ids_only}: no feature columns besides the target 'label' and id column(s) id"
    )
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    table().to_csv(mixed / "a.csv", index=False)
    table().to_parquet(mixed / "b.parquet")
    assert (
        error_line(DataError, data=str(mixed))
        == f"{mixed}: mixes csv and parquet files; point --data at one format"
    )


def test_dates_and_free_text_are_typed_apart_from_the_categoricals(tmp_path: Path) -> None:
    """init writes the datetime and text columns it detects as data.column_types, not as categorical."""
    rng = np.random.default_rng(1)
    words = ["late", "box", "fine", "blue", "desk", "call", "part", "good", "slow", "cracked"]
    days = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 700, 300), unit="D")
    frame = pd.DataFrame(
        {
            "opened": [f"{d.month}/{d.day}/{d.year}" for d in days],
            "remarks": [" ".join(rng.choice(words, rng.integers(3, 7))) for _ in range(300)],
            "channel": rng.choice(["web", "phone"], 300),
            "label": rng.integers(0, 2, 300),
        }
    )
    frame.to_csv(tmp_path / "orders.csv", index=False)
    text = scaffold_recipe(data=str(tmp_path / "orders.csv"), target="label")
    recipe = load_recipe(write_recipe(tmp_path, text))
    assert recipe.data.categorical == ["channel"]
    assert recipe.data.column_types == {"opened": "datetime", "remarks": "text"}
    assert sorted(prepare(recipe).schema.derived) == ["opened", "remarks"]
