"""Data checks, task inference, categoricals and splits on small in-memory tables (no xgboost, no Ray)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlscale import DataError
from mlscale.data import FeatureSchema, infer_task, load_table, prepare
from mlscale.recipe import Recipe
from mlscale.recipe.load import validate
from mlscale.recipe.schema import DataConfig

SRC = "r.yaml"
N = 100


def recipe(task: str | None = None, train: dict[str, Any] | None = None, **data: Any) -> Recipe:
    raw: dict[str, Any] = {"name": "t", "data": {"source": "csv", "path": "unused.csv", **data}}
    if task is not None:
        raw["task"] = task
    if train is not None:
        raw["train"] = train
    return validate(raw, source=SRC)


@pytest.fixture
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "a": rng.normal(size=N),
            "b": rng.integers(0, 5, N),
            "color": rng.choice(["red", "green", "blue"], N),
            "target": rng.integers(0, 2, N),
        }
    )


def data_error(r: Recipe, t: pd.DataFrame) -> str:
    with pytest.raises(DataError) as info:
        prepare(r, t, source=SRC)
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert info.value.exit_code == 2
    return message


# --- task inference -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "task", "note", "classes"),
    [
        (lambda rng: rng.integers(0, 2, N), "binary", "target has 2 distinct values", [0, 1]),
        (lambda rng: rng.choice(["no", "yes"], N), "binary", "target has 2 distinct values", ["no", "yes"]),
        (lambda rng: rng.choice([True, False], N), "binary", "target has 2 distinct values", [False, True]),
        (lambda rng: rng.integers(0, 4, N), "multiclass", "target has 4 integer values", [0, 1, 2, 3]),
        (
            lambda rng: rng.choice(["x", "y", "z"], N),
            "multiclass",
            "target is text with 3 classes",
            ["x", "y", "z"],
        ),
        (
            lambda rng: rng.normal(size=N),
            "regression",
            f"target is numeric with {N} distinct values",
            None,
        ),
        (
            lambda rng: np.arange(N),
            "regression",
            f"target is numeric with {N} distinct values",
            None,
        ),
    ],
    ids=[
        "binary-int",
        "binary-text",
        "binary-bool",
        "multiclass-int",
        "multiclass-text",
        "float",
        "int-many",
    ],
)
def test_task_inference(table: pd.DataFrame, target: Any, task: str, note: str, classes: Any) -> None:
    t = table.assign(target=target(np.random.default_rng(1)))
    ds = prepare(recipe(), t, source=SRC)
    assert ds.schema.task == task
    assert ds.task_inferred is True
    assert ds.notes[0] == f"task inferred: {task} ({note})"
    assert ds.schema.classes == classes
    if classes is None:
        assert ds.y_train.dtype == np.float64
        assert ds.num_class == 0
    else:
        assert ds.y_train.dtype == np.int32
        assert ds.num_class == len(classes)
        assert set(np.concatenate([ds.y_train, ds.y_valid, ds.y_test])) == set(range(len(classes)))


def test_infer_task_integer_cutoff() -> None:
    assert infer_task(pd.Series(np.arange(60) % 20))[0] == "multiclass"
    assert infer_task(pd.Series(np.arange(60) % 21))[0] == "regression"
    assert infer_task(pd.Series([0.0, 1.0, 2.0, 0.0]))[0] == "multiclass"  # integral floats
    assert infer_task(pd.Series([0.5, 1.0, 2.0, 0.5])) == (
        "regression",
        "target is numeric with 3 distinct values",
    )


def test_declared_task_gives_no_note(table: pd.DataFrame) -> None:
    ds = prepare(recipe(task="binary"), table, source=SRC)
    assert ds.schema.task == "binary"
    assert ds.task_inferred is False
    assert not [n for n in ds.notes if n.startswith("task")]


def test_declared_regression_on_integer_target(table: pd.DataFrame) -> None:
    t = table.assign(target=np.random.default_rng(2).integers(0, 4, N))
    ds = prepare(recipe(task="regression"), t, source=SRC)
    assert ds.schema.task == "regression" and ds.schema.classes is None
    assert ds.y_train.dtype == np.float64


def test_labels_are_encoded_in_class_order(table: pd.DataFrame) -> None:
    t = table.assign(target=np.random.default_rng(3).choice(["cat", "ant", "bee"], N))
    ds = prepare(recipe(), t, source=SRC)
    assert ds.schema.classes == ["ant", "bee", "cat"]
    decoded = [ds.schema.classes[i] for i in ds.y_test]
    assert decoded == ds.test_frame["target"].tolist()


# --- categoricals -------------------------------------------------------------------------------------


def test_string_columns_are_detected_as_categorical(table: pd.DataFrame) -> None:
    ds = prepare(recipe(), table, source=SRC)
    assert ds.schema.features == ["a", "b", "color"]
    assert ds.schema.categories == {"color": ["blue", "green", "red"]}
    dtype = ds.x_train["color"].dtype
    assert isinstance(dtype, pd.CategoricalDtype)
    assert list(dtype.categories) == ["blue", "green", "red"]
    assert pd.api.types.is_float_dtype(ds.x_train["a"]) and pd.api.types.is_integer_dtype(ds.x_train["b"])
    for x in (ds.x_valid, ds.x_test):
        assert list(x["color"].dtype.categories) == ["blue", "green", "red"]


def test_pandas_categorical_dtype_is_detected(table: pd.DataFrame) -> None:
    ds = prepare(recipe(), table.assign(color=pd.Categorical(table["color"])), source=SRC)
    assert ds.schema.categories == {"color": ["blue", "green", "red"]}


def test_categories_skip_missing_values(table: pd.DataFrame) -> None:
    t = table.assign(color=table["color"].where(table.index % 10 != 0))
    ds = prepare(recipe(), t, source=SRC)
    assert ds.schema.categories == {"color": ["blue", "green", "red"]}
    n_missing = sum(int(x["color"].isna().sum()) for x in (ds.x_train, ds.x_valid, ds.x_test))
    assert n_missing == 10


def test_declared_categorical_numeric_column(table: pd.DataFrame) -> None:
    ds = prepare(recipe(categorical=["b", "color"]), table, source=SRC)
    assert ds.schema.categories == {"b": ["0", "1", "2", "3", "4"], "color": ["blue", "green", "red"]}
    assert isinstance(ds.x_train["b"].dtype, pd.CategoricalDtype)
    assert ds.x_train["b"].notna().all()


def test_schema_round_trips_through_dict(table: pd.DataFrame) -> None:
    schema = prepare(recipe(), table, source=SRC).schema
    assert FeatureSchema.from_dict(schema.to_dict()) == schema


# --- DataError messages -------------------------------------------------------------------------------


def test_missing_target_suggests_a_column(table: pd.DataFrame) -> None:
    assert data_error(recipe(target="targt"), table) == (
        "r.yaml: data.target: column 'targt' not found (did you mean 'target'?); columns: a, b, color, target"
    )


def test_missing_target_without_suggestion(table: pd.DataFrame) -> None:
    assert data_error(recipe(target="label"), table) == (
        "r.yaml: data.target: column 'label' not found; columns: a, b, color, target"
    )


def test_missing_target_lists_at_most_eight_columns() -> None:
    t = pd.DataFrame({f"c{i}": [1.0, 2.0] for i in range(12)})
    assert data_error(recipe(target="y"), t) == (
        "r.yaml: data.target: column 'y' not found; columns: c0, c1, c2, c3, c4, c5, c6, c7, ... (12 in all)"
    )


def test_nan_in_target_is_refused_when_asked(table: pd.DataFrame) -> None:
    t = table.astype({"target": float})
    t.loc[[3, 7], "target"] = np.nan
    assert data_error(recipe(missing_target="error"), t) == (
        "r.yaml: data.target: column 'target' has 2 missing value(s); drop or fill them first, "
        "or set data.missing_target: drop"
    )


def test_nan_in_target_rows_are_dropped_and_counted(table: pd.DataFrame) -> None:
    t = table.astype({"target": float})
    t.loc[[3, 7], "target"] = np.nan
    ds = prepare(recipe(), t, source=SRC)
    assert ds.missing_target_dropped == 2
    assert ds.n_rows == len(t) - 2
    assert ds.y_train.dtype == np.int32  # the label is complete after the drop


def test_target_entirely_missing(table: pd.DataFrame) -> None:
    assert data_error(recipe(), table.assign(target=np.nan)) == (
        "r.yaml: data.target: column 'target' is entirely missing"
    )


def test_infinite_target(table: pd.DataFrame) -> None:
    t = table.assign(target=np.random.default_rng(0).normal(size=N))
    t.loc[5, "target"] = np.inf
    assert data_error(recipe(), t) == "r.yaml: data.target: column 'target' has infinite values"


def test_target_with_one_class(table: pd.DataFrame) -> None:
    assert data_error(recipe(), table.assign(target="yes")) == (
        "r.yaml: data.target: column 'target' has a single value ('yes'); a model needs at least two"
    )


def test_target_with_one_numeric_class_shows_a_plain_number(table: pd.DataFrame) -> None:
    assert data_error(recipe(), table.assign(target=1)) == (
        "r.yaml: data.target: column 'target' has a single value (1); a model needs at least two"
    )


def test_all_nan_feature(table: pd.DataFrame) -> None:
    assert data_error(recipe(), table.assign(a=np.nan)) == (
        "r.yaml: data.features: column 'a' is entirely missing"
    )


@pytest.mark.parametrize("categorical", [["b"], []], ids=["other-column", "empty-list"])
def test_text_column_not_declared_categorical(table: pd.DataFrame, categorical: list[str]) -> None:
    assert data_error(recipe(categorical=categorical), table) == (
        "r.yaml: data.categorical: column 'color' is text; list it in data.categorical"
    )


def test_categorical_not_a_feature(table: pd.DataFrame) -> None:
    assert data_error(recipe(categorical=["colour_x"]), table) == (
        "r.yaml: data.categorical: column 'colour_x' is not a feature"
    )


def test_features_lists_an_unknown_column(table: pd.DataFrame) -> None:
    assert data_error(recipe(features=["a", "colr"]), table) == (
        "r.yaml: data.features: column 'colr' not found (did you mean 'color'?)"
    )


def test_target_as_a_feature(table: pd.DataFrame) -> None:
    assert data_error(recipe(features=["a", "target"]), table) == (
        "r.yaml: data.features: the target 'target' cannot be a feature"
    )


def test_no_features_left(table: pd.DataFrame) -> None:
    assert data_error(recipe(), table[["target"]]) == (
        "r.yaml: data.features: no feature columns left besides the target"
    )


def test_binary_task_with_four_classes(table: pd.DataFrame) -> None:
    t = table.assign(target=np.arange(N) % 4)
    assert data_error(recipe(task="binary"), t) == (
        "r.yaml: data.target: task binary needs 2 classes, column 'target' has 4"
    )


def test_regression_on_text_target(table: pd.DataFrame) -> None:
    t = table.assign(target=np.where(np.arange(N) % 2, "x", "y"))
    message = data_error(recipe(task="regression"), t)
    assert message.startswith("r.yaml: data.target: task regression needs a numeric target, got ")


def test_too_many_classes(table: pd.DataFrame) -> None:
    t = pd.concat([table] * 2, ignore_index=True).assign(target=[f"c{i}" for i in range(2 * N)])
    assert data_error(recipe(task="multiclass"), t) == (
        "r.yaml: data.target: task multiclass allows at most 50 classes, got 200"
    )


def test_num_class_disagrees_with_data(table: pd.DataFrame) -> None:
    t = table.assign(target=np.arange(N) % 4)
    assert data_error(recipe(task="multiclass", train={"params": {"num_class": 5}}), t) == (
        "r.yaml: train.params.num_class is 5, but the target has 4 classes"
    )


def test_too_few_rows(table: pd.DataFrame) -> None:
    # 2 rows: n_test = round(0.3) = 0, n_valid = max(1, round(0.3)) = 1, so train has 1 row (< 2)
    assert (
        data_error(recipe(), table.head(2)) == "r.yaml: data.split: too few rows (2) for the requested split"
    )


def test_tiny_table_still_splits(table: pd.DataFrame) -> None:
    # 3 rows: n_test = round(0.45) = 0, n_valid = 1, train = 2 -- enough, so no error any more
    ds = prepare(recipe(), table.head(3), source=SRC)
    assert (len(ds.x_train), len(ds.x_valid), len(ds.x_test)) == (2, 1, 0)


# --- splits -------------------------------------------------------------------------------------------


def _imbalanced(n: int = 200) -> pd.DataFrame:
    return pd.DataFrame({"a": np.arange(n, dtype=float), "target": (np.arange(n) % 4 == 0).astype(int)})


def test_split_sizes_and_stratification() -> None:
    t = _imbalanced()  # 200 rows, 50 positives
    ds = prepare(recipe(split={"valid": 0.2, "test": 0.2}), t, source=SRC)
    assert (len(ds.x_train), len(ds.x_valid), len(ds.x_test)) == (120, 40, 40)
    assert (len(ds.y_train), len(ds.y_valid), len(ds.y_test)) == (120, 40, 40)
    assert len(ds.test_frame) == 40 and ds.n_rows == 200
    assert (int(ds.y_train.sum()), int(ds.y_valid.sum()), int(ds.y_test.sum())) == (30, 10, 10)
    # every row lands in exactly one split
    parts = [ds.x_train["a"], ds.x_valid["a"], ds.x_test["a"]]
    assert sorted(pd.concat(parts).tolist()) == t["a"].tolist()
    # features and labels stay aligned
    for x, y in ((ds.x_train, ds.y_train), (ds.x_valid, ds.y_valid), (ds.x_test, ds.y_test)):
        assert ((x["a"].to_numpy() % 4 == 0).astype(int) == y).all()
    assert ds.test_frame["a"].tolist() == ds.x_test["a"].tolist()


def test_split_is_seeded() -> None:
    t = _imbalanced()
    a = prepare(recipe(split={"seed": 1}), t, source=SRC)
    b = prepare(recipe(split={"seed": 1}), t, source=SRC)
    c = prepare(recipe(split={"seed": 2}), t, source=SRC)
    assert a.x_test["a"].tolist() == b.x_test["a"].tolist()
    assert a.x_test["a"].tolist() != c.x_test["a"].tolist()


def test_split_without_test() -> None:
    ds = prepare(recipe(split={"valid": 0.25, "test": 0}), _imbalanced(), source=SRC)
    assert (len(ds.x_train), len(ds.x_valid), len(ds.x_test)) == (150, 50, 0)
    assert len(ds.y_test) == 0 and len(ds.test_frame) == 0


def test_regression_split_sizes(table: pd.DataFrame) -> None:
    t = pd.DataFrame({"a": np.arange(200.0), "target": np.random.default_rng(0).normal(size=200)})
    ds = prepare(recipe(split={"valid": 0.2, "test": 0.2}), t, source=SRC)
    assert (len(ds.x_train), len(ds.x_valid), len(ds.x_test)) == (120, 40, 40)


def test_split_column(table: pd.DataFrame) -> None:
    sp = np.array(["train"] * 60 + ["valid"] * 25 + ["test"] * 15)
    t = table.assign(sp=sp)
    ds = prepare(recipe(split={"column": "sp"}), t, source=SRC)
    assert (len(ds.x_train), len(ds.x_valid), len(ds.x_test)) == (60, 25, 15)
    assert "sp" not in ds.schema.features
    assert ds.x_train["a"].tolist() == t["a"][:60].tolist()  # rows keep their order, no shuffling
    assert ds.x_test["a"].tolist() == t["a"][85:].tolist()


def test_split_column_is_case_insensitive(table: pd.DataFrame) -> None:
    sp = np.array(["TRAIN"] * 60 + ["Valid"] * 40)
    ds = prepare(recipe(split={"column": "sp"}), table.assign(sp=sp), source=SRC)
    assert (len(ds.x_train), len(ds.x_valid), len(ds.x_test)) == (60, 40, 0)


def test_split_column_missing(table: pd.DataFrame) -> None:
    assert data_error(recipe(split={"column": "split"}), table.assign(splt="train")) == (
        "r.yaml: data.split.column: column 'split' not found (did you mean 'splt'?)"
    )


def test_split_column_bad_value(table: pd.DataFrame) -> None:
    sp = np.array(["train"] * 60 + ["valid"] * 25 + ["holdout"] * 15)
    assert data_error(recipe(split={"column": "sp"}), table.assign(sp=sp)) == (
        "r.yaml: data.split.column: values must be train, valid or test, got 'holdout'"
    )


def test_split_column_without_valid_rows(table: pd.DataFrame) -> None:
    sp = np.array(["train"] * 85 + ["test"] * 15)
    assert data_error(recipe(split={"column": "sp"}), table.assign(sp=sp)) == (
        "r.yaml: data.split.column: needs at least one train and one valid row"
    )


# --- load_table ---------------------------------------------------------------------------------------


def _load(source: str, path: Path | str) -> pd.DataFrame:
    return load_table(DataConfig(source=source, path=str(path)), source=SRC)


def _load_error(source: str, path: Path | str) -> str:
    with pytest.raises(DataError) as info:
        _load(source, path)
    message = str(info.value)
    assert len(message.splitlines()) == 1
    return message


def test_load_csv(tmp_path: Path) -> None:
    f = tmp_path / "d.csv"
    f.write_text("a,b,target\n1,x,0\n2,y,1\n")
    t = _load("csv", f)
    assert t.shape == (2, 3)
    assert list(t.columns) == ["a", "b", "target"]


def test_load_missing_file(tmp_path: Path) -> None:
    assert _load_error("csv", tmp_path / "nope.csv") == f"r.yaml: data.path: {tmp_path}/nope.csv not found"


@pytest.mark.parametrize("source", ["csv", "parquet"])
def test_load_empty_file(tmp_path: Path, source: str) -> None:
    f = tmp_path / f"empty.{source}"
    f.write_bytes(b"")
    assert _load_error(source, f) == f"r.yaml: data.path: {f} is empty"


def test_load_blank_csv(tmp_path: Path) -> None:
    f = tmp_path / "blank.csv"
    f.write_text("\n")
    assert _load_error("csv", f) == f"r.yaml: data.path: {f} is empty"


def test_load_header_only_csv(tmp_path: Path) -> None:
    f = tmp_path / "h.csv"
    f.write_text("a,b\n")
    assert _load_error("csv", f).startswith(f"r.yaml: data.path: {f} ha")
    assert _load_error("csv", f).endswith(" no rows")


def test_load_ragged_csv(tmp_path: Path) -> None:
    f = tmp_path / "rag.csv"
    f.write_text("a,b\n1,2\n3,4,5\n6,7\n")
    assert _load_error("csv", f) == (
        f"r.yaml: data.path: {f} is not valid CSV (Error tokenizing data. C error: Expected 2 fields in line 3, saw 3)"
    )


def test_load_not_parquet(tmp_path: Path) -> None:
    f = tmp_path / "bad.parquet"
    f.write_text("a,b\n1,2\n")
    assert _load_error("parquet", f).startswith(f"r.yaml: data.path: cannot read {f} as parquet (")


def test_load_directory_with_mixed_schemas(tmp_path: Path) -> None:
    d = tmp_path / "parts"
    d.mkdir()
    pd.DataFrame({"a": [1, 2], "b": [3, 4]}).to_csv(d / "p1.csv", index=False)
    pd.DataFrame({"a": [1, 2], "c": [3, 4]}).to_csv(d / "p2.csv", index=False)
    assert _load_error("csv", d) == (
        f"r.yaml: data.path: {d}/p2.csv has different columns than {d}/p1.csv (differing: b, c)"
    )


def test_load_directory_with_reordered_columns(tmp_path: Path) -> None:
    d = tmp_path / "parts"
    d.mkdir()
    pd.DataFrame({"a": [1], "b": [2]}).to_csv(d / "p1.csv", index=False)
    pd.DataFrame({"b": [1], "a": [2]}).to_csv(d / "p2.csv", index=False)
    assert _load_error("csv", d) == (
        f"r.yaml: data.path: {d}/p2.csv has different columns than {d}/p1.csv (differing: order)"
    )


def test_load_directory_of_parquet_files_concatenates(tmp_path: Path) -> None:
    d = tmp_path / "pq"
    d.mkdir()
    pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).to_parquet(d / "part-0.parquet")
    pd.DataFrame({"a": [3], "b": ["z"]}).to_parquet(d / "part-1.parquet")
    (d / "README.txt").write_text("not data")  # ignored: not .csv / .parquet
    t = _load("parquet", d)
    assert t["a"].tolist() == [1, 2, 3]
    assert t["b"].tolist() == ["x", "y", "z"]
    assert list(t.index) == [0, 1, 2]


def test_load_glob(tmp_path: Path) -> None:
    for i in range(3):
        pd.DataFrame({"a": [i]}).to_parquet(tmp_path / f"p{i}.parquet")
    assert _load("parquet", tmp_path / "p*.parquet")["a"].tolist() == [0, 1, 2]
    assert _load_error("parquet", tmp_path / "q*.parquet") == (
        f"r.yaml: data.path: no files match {tmp_path}/q*.parquet"
    )


def test_load_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    assert _load_error("csv", tmp_path) == (
        f"r.yaml: data.path: directory {tmp_path} has no .csv or .parquet files"
    )


def test_load_then_prepare(tmp_path: Path) -> None:
    f = tmp_path / "d.csv"
    rows = "\n".join(f"{i},{'xy'[i % 2]},{i % 2}" for i in range(40))
    f.write_text("a,b,target\n" + rows + "\n")
    r = validate({"name": "t", "data": {"source": "csv", "path": str(f)}}, source=SRC)
    ds = prepare(r, source=SRC)
    assert ds.schema.task == "binary" and ds.schema.categories == {"b": ["x", "y"]}
    assert ds.n_rows == 40


def test_header_only_message_grammar(tmp_path: Path) -> None:
    f = tmp_path / "h.csv"
    f.write_text("a,b\n")
    assert _load_error("csv", f) == f"r.yaml: data.path: {f} has no rows"


# --- FeatureSchema.frame ------------------------------------------------------------------------------


SCHEMA = FeatureSchema(
    target="target",
    task="binary",
    features=["a", "color"],
    categories={"color": ["blue", "green", "red"]},
    classes=[0, 1],
)


def test_frame_counts_unseen_categories() -> None:
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0, 5.0], "color": ["red", "purple", "pink", None, "purple"]})
    x, unseen = SCHEMA.frame(df)
    assert unseen == {"color": 3}  # missing values were missing before: not counted
    assert x["color"].tolist()[0] == "red"
    assert x["color"].isna().tolist() == [False, True, True, True, True]
    assert list(x["color"].dtype.categories) == ["blue", "green", "red"]


def test_frame_selects_features_in_order_and_drops_the_rest() -> None:
    df = pd.DataFrame({"extra": [0, 0], "color": ["blue", "green"], "a": [1.0, 2.0], "target": [0, 1]})
    x, unseen = SCHEMA.frame(df)
    assert list(x.columns) == ["a", "color"]
    assert unseen == {}


def test_frame_coerces_object_numbers() -> None:
    df = pd.DataFrame({"a": pd.Series(["1.5", "oops", None], dtype=object), "color": ["red"] * 3})
    x, _ = SCHEMA.frame(df)
    assert x["a"].iloc[0] == 1.5 and x["a"].isna().tolist() == [False, True, True]


@pytest.mark.parametrize(
    ("columns", "missing"),
    [(["a"], "'color'"), (["b"], "'a', 'color'")],
    ids=["one", "two"],
)
def test_frame_missing_feature_column(columns: list[str], missing: str) -> None:
    df = pd.DataFrame({c: [1.0] for c in columns})
    with pytest.raises(DataError) as info:
        SCHEMA.frame(df, where="in.parquet")
    assert str(info.value) == f"in.parquet: missing feature column(s) {missing}"


def test_default_split_sizes_are_exact(table: pd.DataFrame) -> None:
    ds = prepare(recipe(), table, source=SRC)  # valid 0.15, test 0.15 of 100 rows
    assert (len(ds.x_train), len(ds.x_valid), len(ds.x_test)) == (70, 15, 15)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_file_sources_record_where_each_train_row_lives(
    tmp_path: Path, table: pd.DataFrame, fmt: str
) -> None:
    """Reading any slice of the train rows back from the files gives exactly that slice of x_train / y_train:
    what lets cluster workers read their own shard instead of receiving it from the driver."""
    from mlscale.data import read_rows

    for i, part in enumerate(table.iloc[k : k + 25] for k in range(0, N, 25)):
        path = tmp_path / f"p{i}.{fmt}"
        part.to_csv(path, index=False) if fmt == "csv" else part.to_parquet(path)
    data = prepare(recipe(source=fmt, path=str(tmp_path), categorical=["color"]))
    files = data.files
    assert files is not None and files.rows == [25] * 4 and files.offsets == [0, 25, 50, 75]
    assert len(files.train_rows) == len(data.x_train) and list(files.train_rows) == sorted(files.train_rows)
    for part in (slice(0, 10), slice(10, 40), slice(40, len(files.train_rows))):
        wanted, where = files.shard(part)
        frames = [read_rows(p, fmt, off, wanted) for p, off in where]
        got = pd.concat(frames, ignore_index=True)
        x, _ = data.schema.frame(got)
        pd.testing.assert_frame_equal(x, data.x_train.iloc[part].reset_index(drop=True))
        assert list(got["target"]) == list(data.y_train[part])  # 0/1 classes encode to themselves
        assert len(where) < 4 or part.start == 0  # a slice reads only the files that hold its rows


def test_in_memory_and_hooked_sources_have_no_file_map(table: pd.DataFrame) -> None:
    assert prepare(recipe(), table=table).files is None


def test_compressed_csv_is_read_as_csv(tmp_path: Path) -> None:
    """`x.csv.gz` was taken for parquet (any name not ending in .csv was)."""
    from mlscale.data import file_format, iter_input_batches, resolve_files

    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "target": [0, 1, 0]})
    frame.to_csv(tmp_path / "t.csv.gz", index=False)
    assert file_format([str(tmp_path / "t.csv.gz")]) == "csv"
    assert resolve_files(str(tmp_path), where="w") == [str(tmp_path / "t.csv.gz")]  # found in a directory
    table = load_table(recipe(path=str(tmp_path / "t.csv.gz")).data)
    pd.testing.assert_frame_equal(table, frame)
    _, batches = iter_input_batches(str(tmp_path / "t.csv.gz"), batch_size=10, where="w")
    assert next(batches).to_pandas()["a"].tolist() == [1.0, 2.0, 3.0]
