"""Where predictions may go: never over an input (the predict input, the training data), never inside an
input directory, never onto a directory. Refused before anything runs, for `mlscale run` and `predict`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlscale.data import prepare
from mlscale.engines.local import LocalEngine
from mlscale.recipe.load import validate
from mlscale.recipe.schema import EngineConfig, TrainConfig


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """train.csv, a model trained on it (m/), a recipe, new.csv and an input directory in/ (2 parts)."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.integers(0, 5, 200)})
    frame["label"] = (frame["a"] > 0).astype(int)
    frame.to_csv(tmp_path / "train.csv", index=False)
    raw = {"name": "t", "data": {"source": "csv", "path": "train.csv", "target": "label"}}
    (tmp_path / "r.yaml").write_text(
        "name: t\ndata: {source: csv, path: train.csv, target: label}\ntrain: {num_boost_round: 3}\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLSCALE_HOME", str(tmp_path / "mlscale-home"))
    data = prepare(validate(raw, source="r.yaml"), source="r.yaml")
    LocalEngine(EngineConfig()).train(data, TrainConfig(num_boost_round=3)).model.save(tmp_path / "m")
    new = frame.drop(columns=["label"])
    new.to_csv(tmp_path / "new.csv", index=False)
    (tmp_path / "in").mkdir()
    new.head(100).to_csv(tmp_path / "in" / "part1.csv", index=False)
    new.tail(100).to_csv(tmp_path / "in" / "part2.csv", index=False)
    (tmp_path / "out").mkdir()
    return tmp_path


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from conftest import cli_in_process

    return cli_in_process(args, capsys)


def _snapshot(root: Path) -> dict[Path, bytes | None]:
    return {p: (p.read_bytes() if p.is_file() else None) for p in root.rglob("*")}


SAME = "is the predict input {what}; write the predictions to another file"
INSIDE = "is inside the predict input directory {what}; write the predictions outside it"
TRAINING = "is the training data (data.path {what}); write the predictions to another file"
DIRECTORY = "is a directory; give a file path such as {what}, or set predict.partitioned: true for part files"
UNDER_FILE = "cannot be created: {what} is a file, not a directory"

# (--input, --output, message template, what): paths relative to the fixture's directory
CASES = {
    "output-is-the-input": ("new.csv", "new.csv", SAME, "new.csv"),
    "same-file-spelt-otherwise": ("new.csv", "./out/../new.csv", SAME, "new.csv"),
    "output-is-a-symlink-to-the-input": ("new.csv", "link.csv", SAME, "new.csv"),
    "output-is-a-hard-link-to-the-input": ("new.csv", "hard.csv", SAME, "new.csv"),
    "output-in-the-input-directory": ("in", "in/scored.csv", INSIDE, "in"),
    "output-deeper-in-the-input-directory": ("in", "in/sub/scored.csv", INSIDE, "in"),
    "output-is-a-file-of-the-glob": ("in/*.csv", "in/part2.csv", SAME, "in/part2.csv"),
    "output-is-the-training-data": ("new.csv", "train.csv", TRAINING, "train.csv"),
    "output-is-a-directory": ("new.csv", "out", DIRECTORY, "out/predictions.parquet"),
    "output-under-a-file": ("new.csv", "new.csv/scored.csv", UNDER_FILE, "new.csv"),
}


def _links(home: Path) -> None:
    (home / "link.csv").symlink_to(home / "new.csv")
    os.link(home / "new.csv", home / "hard.csv")


def _expected(case: tuple[str, str, str, str], home: Path) -> str:
    """Inputs are named by their real path; a directory or a file in the way as the output spells it."""
    _, output, template, what = case
    shown = what if template in (DIRECTORY, UNDER_FILE) else home / what
    return f"r.yaml: predict.output: {output} " + template.format(what=shown)


@pytest.mark.parametrize("name", list(CASES))
def test_mlscale_predict_refuses(name: str, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _links(home)
    source, output, _, _ = CASES[name]
    before = _snapshot(home)
    code, out, err = _cli(
        ["predict", "r.yaml", "--model", "m", "--input", source, "--output", output], capsys
    )
    assert (code, out, err) == (2, "", f"error: {_expected(CASES[name], home)}\n")
    assert _snapshot(home) == before  # the input is intact, nothing written


@pytest.mark.parametrize("name", list(CASES))
def test_mlscale_run_refuses_before_anything_starts(
    name: str, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _links(home)
    source, output, _, _ = CASES[name]
    before = _snapshot(home)
    code, out, err = _cli(
        ["run", "r.yaml", "--set", f"predict.input={source}", "--set", f"predict.output={output}"], capsys
    )
    assert (code, out, err) == (2, "", f"error: {_expected(CASES[name], home)}\n")
    assert _snapshot(home) == before  # no mlflow.db, no tune state, the inputs intact


def test_run_without_a_predict_input_may_not_write_over_the_training_data(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _cli(["run", "r.yaml", "--set", "predict.output=./train.csv"], capsys)
    assert (code, err) == (
        2,
        f"error: r.yaml: predict.output: ./train.csv {TRAINING.format(what=home / 'train.csv')}\n",
    )


def test_predicting_next_to_the_input_still_works(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(
        ["predict", "r.yaml", "--model", "m", "--input", "in", "--output", "scored.csv", "-q"], capsys
    )
    assert (code, out) == (0, "scored.csv\n"), err
    assert len(pd.read_csv(home / "scored.csv")) == 200
    assert len(pd.read_csv(home / "new.csv")) == 200


def test_mlscale_plan_refuses_it_too(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(["plan", "r.yaml", "--set", "predict.output=train.csv"], capsys)
    expected = f"r.yaml: predict.output: train.csv {TRAINING.format(what=home / 'train.csv')}"
    assert (code, out, err) == (2, "", f"error: {expected}\n")


FOREIGN = "exists and was not written by mlscale ({mark}); pass --overwrite to replace it, or write elsewhere"


@pytest.mark.parametrize("command", ["predict", "explain"])
def test_a_file_mlscale_did_not_write_is_replaced_only_with_overwrite(
    command: str, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (home / ".bashrc").write_text("alias ll='ls -l'\n")
    args = [command, "r.yaml", "--model", "m", "--input", "new.csv", "--output", ".bashrc", "-q"]
    code, out, err = _cli(args, capsys)
    mark = FOREIGN.format(mark="no .bashrc.manifest.json naming it")
    assert (code, out, err) == (2, "", f"error: r.yaml: {command}.output: .bashrc {mark}\n")
    assert (home / ".bashrc").read_text() == "alias ll='ls -l'\n"
    assert not (home / ".bashrc.manifest.json").exists()
    code, out, err = _cli([*args, "--overwrite"], capsys)
    assert (code, out) == (0, ".bashrc\n"), err
    assert len(pd.read_parquet(home / ".bashrc")) == 200


def test_mlscales_own_output_is_replaced_on_a_rerun(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["predict", "r.yaml", "--model", "m", "--input", "new.csv", "--output", "out/p.csv", "-q"]
    for rows in (200, 100):
        pd.read_csv(home / "train.csv").drop(columns=["label"]).head(rows).to_csv(
            home / "new.csv", index=False
        )
        code, out, err = _cli(args, capsys)
        assert (code, out) == (0, "out/p.csv\n"), err
        assert len(pd.read_csv(home / "out" / "p.csv")) == rows
    manifest = (home / "out" / "p.csv.manifest.json").read_text()
    assert '"file": "p.csv"' in manifest and '"rows": 100' in manifest


def test_a_manifest_mlscale_did_not_write_is_not_replaced(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (home / "out" / "p.csv.manifest.json").write_text("my notes\n")
    code, _, err = _cli(
        ["predict", "r.yaml", "--model", "m", "--input", "new.csv", "--output", "out/p.csv"], capsys
    )
    mark = FOREIGN.format(mark="not a manifest of mlscale's")
    assert (code, err) == (
        2,
        f"error: r.yaml: predict.output: out/p.csv.manifest.json (its manifest) {mark}\n",
    )
    assert (home / "out" / "p.csv.manifest.json").read_text() == "my notes\n"
    assert not (home / "out" / "p.csv").exists()


STORES = {
    # MLFLOW_TRACKING_URI, --output, what the message names
    "the-sqlite-file": ("sqlite:///m.db", "m.db", "is the MLflow tracking store {home}/m.db"),
    "the-default-store": (None, "mlflow.db", "is the MLflow tracking store {home}/mlflow.db"),
    "its-artifact-folder": (None, "mlruns/1/p.csv", "is inside the MLflow tracking store {home}/mlruns"),
    "a-file-store": ("file:./store", "store/p.csv", "is inside the MLflow tracking store {home}/store"),
}


@pytest.mark.parametrize("name", list(STORES))
def test_the_tracking_store_is_never_an_output(
    name: str, home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    uri, output, message = STORES[name]
    if uri is not None:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    (home / output).parent.mkdir(parents=True, exist_ok=True)
    (home / output).write_bytes(b"SQLite format 3\x00")
    before = _snapshot(home)
    args = ["predict", "r.yaml", "--model", "m", "--input", "new.csv", "--output", output, "--overwrite"]
    code, out, err = _cli(args, capsys)
    expected = f"r.yaml: predict.output: {output} {message.format(home=home)}; write it elsewhere"
    assert (code, out, err) == (2, "", f"error: {expected}\n")
    assert _snapshot(home) == before


READS = {
    # --output, what the message names
    "the-recipe": ("r.yaml", "is the recipe r.yaml"),
    "the-model": ("m/model.ubj", "is inside predict.model m"),
    "the-input": ("new.csv", SAME.format(what="{home}/new.csv")),
}


@pytest.mark.parametrize("name", list(READS))
def test_a_file_the_command_reads_is_never_an_output(
    name: str, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output, message = READS[name]
    before = _snapshot(home)
    args = ["predict", "r.yaml", "--model", "m", "--input", "new.csv", "--output", output, "--overwrite"]
    code, out, err = _cli(args, capsys)
    expected = f"r.yaml: predict.output: {output} {message.format(home=home)}"
    assert (code, out, err[: len(expected) + 7]) == (2, "", f"error: {expected}")
    assert _snapshot(home) == before


def test_a_rerun_replaces_its_own_plots_and_report_and_refuses_anyone_elses(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["run", "r.yaml", "--set", "predict.output=out/p.csv", "-q"]
    for _ in range(2):  # the second run replaces what the first wrote, with no --overwrite
        code, _, err = _cli(args, capsys)
        assert code == 0, err
    plots = sorted(p.name for p in (home / "out" / "plots").iterdir())
    assert "roc_pr.png" in plots and (home / "out" / "report.html").is_file()
    assert sorted(p.name for p in (home / "out").iterdir() if p.name.startswith(".")) == []  # no temp file
    (home / "out" / "report.html").write_text("<p>my own notes</p>\n")
    (home / "out" / "plots" / "roc_pr.png").unlink()
    (home / "out" / "plots" / "roc_pr.png").symlink_to(home / "new.csv")
    before = _snapshot(home)
    code, out, err = _cli(args, capsys)
    mark = FOREIGN.format(mark="no PNG text 'Software: mlscale'")
    assert (code, out, err) == (
        2,
        "",
        f"error: r.yaml: predict.output: out/plots/roc_pr.png (a plot beside it) {mark}\n",
    )
    (home / "out" / "plots" / "roc_pr.png").unlink()
    code, _, err = _cli(["plan", "r.yaml", "--set", "predict.output=out/p.csv"], capsys)
    mark = FOREIGN.format(mark='no <meta name="generator" content="mlscale">')
    assert (code, err) == (
        2,
        f"error: r.yaml: predict.output: out/report.html (the run report beside it) {mark}\n",
    )
    planted = home / "out" / "plots" / "roc_pr.png"
    assert _snapshot(home) == {p: v for p, v in before.items() if p != planted}  # nothing started
    code, _, err = _cli([*args, "--overwrite"], capsys)
    assert code == 0, err
    assert "my own notes" not in (home / "out" / "report.html").read_text()
    assert len(pd.read_csv(home / "new.csv")) == 200  # the symlink was replaced, not followed
