"""train.external_memory: the streamed split equals the in-memory one, external memory trains as well as
in memory and removes its cache, `auto` follows the memory estimate, bad values are one-line errors."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import LEAN, cli_in_process

from mlscale.data import prepare
from mlscale.data import split_rule as splitting
from mlscale.data.batches import TrainStream, part_of, train_batches
from mlscale.data.memory_plan import BUDGET_ENV, for_recipe
from mlscale.data.streamed import prepare_for_training, prepare_streamed
from mlscale.modeling.external_memory import CACHE_PREFIX
from mlscale.recipe import load_recipe

N = 3_000


def _table(n: int = N, *, task: str = "binary", seed: int = 0, typed: bool = False) -> pd.DataFrame:
    """`typed`: with a date (M/D/YYYY) and a free-text column (`mlscale.data.column_types`)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    score = x[:, 0] + 0.5 * x[:, 1] - x[:, 2] * x[:, 3]
    colour = np.where(x[:, 1] > 0.3, "red", np.where(x[:, 1] < -0.3, "blue", "green"))
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"]).assign(colour=colour)
    if task == "binary":
        target = (score + rng.normal(scale=0.5, size=n) > 0).astype(int)
    elif task == "multiclass":
        target = np.digitize(score, [-1.0, 0.0, 1.0])
    else:
        target = score * 10
    frame["target"] = target.astype(float)
    frame.loc[rng.choice(n, size=n // 50, replace=False), "target"] = np.nan  # dropped rows shift ranks
    if typed:
        words = np.array(["red", "late", "box", "call", "fine", "desk", "part", "good", "slow", "blue"])
        frame["remarks"] = [" ".join(rng.choice(words, rng.integers(3, 7))) for _ in range(n)]
        days = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
        frame["when"] = [f"{d.month}/{d.day}/{d.year}" for d in days]
    return frame


def _write(frame: pd.DataFrame, folder: Path, fmt: str, parts: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, chunk in enumerate(np.array_split(np.arange(len(frame)), parts)):
        part = frame.iloc[chunk]
        if fmt == "csv":
            part.to_csv(folder / f"part-{i}.csv", index=False)
        else:
            part.to_parquet(folder / f"part-{i}.parquet", index=False)
    return folder


def _recipe(path: Path, fmt: str, tmp_path: Path, **train: object) -> Path:
    doc = {
        "name": "extmem",
        "data": {"source": fmt, "path": str(path), "split": {"valid": 0.2, "test": 0.2, "seed": 7}},
        "train": {"num_boost_round": 60, "early_stopping_rounds": None, **train},
        "evaluate": {"reference": "off"},
    }
    out = tmp_path / "recipe.yaml"
    out.write_text(yaml.safe_dump(doc))
    return out


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many batches per file, so ranks carry over from batch to batch and file to file."""
    monkeypatch.setattr("mlscale.data.streamed.batch_rows", lambda columns: 256)


@pytest.mark.parametrize(
    ("fmt", "task"), [("parquet", "binary"), ("csv", "multiclass"), ("parquet", "regression")]
)
def test_streamed_split_is_the_in_memory_split(
    fmt: str, task: str, tmp_path: Path, small_batches: None
) -> None:
    path = _recipe(_write(_table(task=task, typed=True), tmp_path / "data", fmt), fmt, tmp_path)
    recipe = load_recipe(path)
    memory, streamed = prepare(recipe, source="r"), prepare_streamed(recipe, source="r")
    assert sorted(memory.schema.derived) == ["remarks", "when"]
    assert streamed.stream is not None and len(streamed.stream.batches) > 3
    assert streamed.schema == memory.schema
    assert streamed.n_train == len(memory.x_train) and streamed.missing_target_dropped == N // 50
    pd.testing.assert_frame_equal(streamed.test_frame, memory.test_frame, check_dtype=False)
    pd.testing.assert_frame_equal(streamed.x_valid, memory.x_valid, check_dtype=False)
    assert np.array_equal(streamed.y_test, memory.y_test) and np.array_equal(streamed.y_valid, memory.y_valid)
    train = [frame for frame, _ in train_batches(streamed.stream)]
    rows = pd.concat(train, ignore_index=True)[memory.schema.features]
    pd.testing.assert_frame_equal(memory.schema.frame(rows)[0], memory.x_train, check_dtype=False)


def test_worker_parts_cover_the_train_rows_once(tmp_path: Path, small_batches: None) -> None:
    path = _recipe(_write(_table(), tmp_path / "data", "parquet"), "parquet", tmp_path)
    stream: TrainStream | None = prepare_streamed(load_recipe(path), source="r").stream
    assert stream is not None
    parts = [part_of(len(stream.batches), r, 3) for r in range(3)]
    seen = [frame["a"].to_numpy() for p in parts for frame, _ in train_batches(stream, p)]
    whole = np.concatenate([frame["a"].to_numpy() for frame, _ in train_batches(stream)])
    assert np.array_equal(np.concatenate(seen), whole) and len(whole) == stream.n_train


def test_split_rule_counts_are_exact_and_seeded() -> None:
    codes = np.repeat([0, 1, 2], [500, 300, 200])
    plan = splitting.plan_split([500, 300, 200], n_test=150, n_valid=100, seed=3)
    rank, after = splitting.ranks(codes, np.zeros(3, np.int64))
    which = splitting.assign(plan, codes, rank)
    assert list(after) == [500, 300, 200]
    assert [int((which[codes == c] == splitting.TEST).sum()) for c in range(3)] == [75, 45, 30]
    assert int((which == splitting.VALID).sum()) == 100
    other = splitting.assign(
        splitting.plan_split([500, 300, 200], n_test=150, n_valid=100, seed=4), codes, rank
    )
    assert not np.array_equal(which, other)
    # rows seen in two halves get the same split as all at once
    first, seen = splitting.ranks(codes[:400], np.zeros(3, np.int64))
    second, _ = splitting.ranks(codes[400:], seen)
    assert np.array_equal(np.concatenate([first, second]), rank)


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    return cli_in_process(args, capsys)


def _caches() -> list[str]:
    return [p.name for p in Path(tempfile.gettempdir()).iterdir() if p.name.startswith(CACHE_PREFIX)]


@pytest.fixture
def own_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tempfile's directory (where the page cache goes) for this test alone."""
    cache = tmp_path / "tmp"
    cache.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(cache))
    return cache


def test_local_external_memory_matches_in_memory_and_removes_its_cache(
    workdir: Path, cli_state: None, own_tmp: Path, capsys: pytest.CaptureFixture[str], small_batches: None
) -> None:
    import mlscale

    path = _recipe(_write(_table(typed=True), workdir / "data", "parquet"), "parquet", workdir)
    lean = [f"{key}={str(value).lower()}" for key, value in LEAN.items()]
    off = mlscale.run(path, overrides=["train.external_memory=off", *lean])
    on = mlscale.run(path, overrides=["train.external_memory=on", *lean])
    assert _caches() == []
    assert on.metrics["test_auc"] == pytest.approx(off.metrics["test_auc"], abs=0.01)
    assert on.metrics["valid_logloss"] == pytest.approx(off.metrics["valid_logloss"], abs=0.02)


def test_cache_is_removed_when_training_is_interrupted(
    workdir: Path, cli_state: None, own_tmp: Path, monkeypatch: pytest.MonkeyPatch, small_batches: None
) -> None:
    import mlscale

    seen: list[list[str]] = []

    def interrupted(*args: object, **kwargs: object) -> None:
        seen.append(_caches())
        raise KeyboardInterrupt

    monkeypatch.setattr("mlscale.engines.local.fit", interrupted)
    path = _recipe(_write(_table(), workdir / "data", "parquet"), "parquet", workdir)
    with pytest.raises(KeyboardInterrupt):
        mlscale.run(path, overrides=["train.external_memory=on"])
    assert len(seen) == 1 and len(seen[0]) == 1  # the cache existed while training ran
    assert _caches() == []


def test_tuning_on_external_memory(
    workdir: Path, cli_state: None, own_tmp: Path, small_batches: None
) -> None:
    import mlscale

    path = _recipe(_write(_table(), workdir / "data", "parquet"), "parquet", workdir)
    doc = yaml.safe_load(path.read_text())
    doc["tune"] = {"space": {"max_depth": {"randint": [2, 5]}}, "num_samples": 2, "metric": "valid_auc"}
    path.write_text(yaml.safe_dump(doc))
    result = mlscale.run(path, overrides=["train.external_memory=on"])
    assert result.tune is not None and len(result.tune.trials) == 2 and result.metrics["test_auc"] > 0.8
    assert _caches() == []


def test_auto_follows_the_estimate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _recipe(_write(_table(), tmp_path / "data", "parquet"), "parquet", tmp_path)
    recipe = load_recipe(path)
    summary = {"files": 3, "rows": N, "columns": 6, "bytes": 1}
    monkeypatch.setenv(BUDGET_ENV, "100000")
    roomy = for_recipe(recipe, summary, source="r")
    assert not roomy.on and "within 50%" in roomy.describe()
    monkeypatch.setenv(BUDGET_ENV, "1")
    tight = for_recipe(recipe, summary, source="r")
    assert tight.on and "above 50%" in tight.reason and BUDGET_ENV in tight.describe()
    assert prepare_for_training(recipe, source="r").stream is not None
    monkeypatch.setenv(BUDGET_ENV, "100000")
    assert prepare_for_training(recipe, source="r").stream is None


def test_plan_prints_the_estimate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli_state: None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _recipe(_write(_table(), tmp_path / "data", "parquet"), "parquet", tmp_path)
    monkeypatch.setenv(BUDGET_ENV, "1")
    code, out, _ = _run(["plan", str(path)], capsys)
    assert code == 0
    assert "external memory on (auto: the estimate is above 50% of it)" in " ".join(out.split())


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ["--set", "train.external_memory=maybe"],
            None,
            "train.external_memory must be one of auto, on or off, got 'maybe'",
        ),
        (
            [
                "--set",
                "train.external_memory=on",
                "--set",
                "data.source=sklearn",
                "--set",
                "data.dataset=iris",
            ],
            None,
            "train.external_memory: on needs data.source csv or parquet",
        ),
        ([], "lots", f"{BUDGET_ENV}: expected a number of megabytes, got 'lots'"),
    ],
)
def test_bad_values_are_one_line_errors(
    args: list[str],
    env: str | None,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli_state: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = _recipe(_write(_table(), tmp_path / "data", "parquet"), "parquet", tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    if env is not None:
        monkeypatch.setenv(BUDGET_ENV, env)
    code, _, err = _run(["run", str(path), *args], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0], err


def test_batches_hold_about_the_same_bytes_whatever_the_width(tmp_path: Path) -> None:
    """Few, large pages for a narrow table (xgboost keeps state per page), bounded batches for a wide one."""
    from mlscale.data.batches import MAX_BATCH_ROWS, MIN_BATCH_ROWS, batch_rows, source_columns

    assert batch_rows(29) == 289_262
    assert batch_rows(1) == MAX_BATCH_ROWS and batch_rows(100_000) == MIN_BATCH_ROWS
    frame = pd.DataFrame({f"c{i}": [1.0, 2.0] for i in range(5)})
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "t.parquet")
    assert (
        source_columns(str(tmp_path / "t.csv"), "csv")
        == source_columns(str(tmp_path / "t.parquet"), "parquet")
        == 5
    )
