"""A logged model served the three ways MLflow serves one, fed what clients send: `mlflow.pyfunc.load_model`
on a DataFrame pandas read from a csv, `mlflow models predict` (csv and json files) and a real
`mlflow models serve` on 127.0.0.1 over HTTP (`dataframe_split`, `dataframe_records`).

The inputs: a csv whose numeric columns hold only integers, one with missing numbers, missing text, an
unseen category, a date no format parses and missing free text (the model has a datetime and a text
column, fed raw), integer columns of every width, booleans, columns in another order plus an extra one.
Every answer is checked against mlscale's own predictions of the same rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import LEAN, free_port, started

import mlscale
from mlscale.modeling.model import Model

BIN = Path(sys.executable).parent
TEXT = {"code": str, "colour": str}  # how mlscale reads the categoricals: as text
WORDS = ["cracked", "screen", "box", "late", "fine", "blue", "desk", "call", "part", "good"]


@dataclass(frozen=True)
class Logged:
    home: Path
    uri: str  # runs:/<id>/model
    model: Model
    env: dict[str, str]  # for MLflow's own commands: the tracking store, and this venv's bin on PATH


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Logged:
    """A small binary model (10 rounds) logged to a sqlite store, and the files a client sends:
    ints.csv (numeric columns all integers), gaps.csv (missing numbers and text, an unseen colour)."""
    home = tmp_path_factory.mktemp("serving")
    rng = np.random.default_rng(7)
    n = 400
    frame = pd.DataFrame(
        {
            "items": rng.integers(0, 20, n),
            "score": rng.normal(0, 10, n).round(2),
            "flag": rng.integers(0, 2, n).astype(bool),
            "code": rng.choice(["007", "012", "A12"], n),  # text with leading zeros
            "colour": rng.choice(["red", "green", "blue", None], n),
            "opened": [
                f"2022-{m:02d}-{d:02d} {h:02d}:15:00" for m, d, h in rng.integers(1, [13, 29, 24], (n, 3))
            ],
            "remarks": [" ".join(rng.choice(WORDS, rng.integers(3, 7))) for _ in range(n)],
        }
    )
    signal = (frame["items"] > 9) ^ (frame["colour"] == "red") ^ (frame["code"] == "007")
    signal ^= frame["remarks"].str.contains("cracked") & (frame["opened"] > "2022-06")
    frame["label"] = signal.astype(int)
    frame.to_csv(home / "train.csv", index=False)
    new = frame.drop(columns="label").head(12).copy()
    new["code"] = ["007", "012", "A12"] * 4  # 'A12' keeps the column text for pd.read_csv
    new["score"] = new["score"].round().astype("int64")
    new.to_csv(home / "ints.csv", index=False)
    gaps = new.astype({"items": "float64"}).copy()
    gaps.loc[1, "items"] = np.nan
    gaps.loc[2, "colour"] = None
    gaps.loc[3, "colour"] = "purple"  # unseen in training
    gaps.loc[4, "code"] = None
    gaps.loc[5, "opened"] = "sometime in May"  # no format parses it: missing, like an unseen category
    gaps.loc[6, "remarks"] = None
    gaps.to_csv(home / "gaps.csv", index=False)
    recipe = {
        "name": "serving",
        "data": {"source": "csv", "path": str(home / "train.csv"), "target": "label"},
        "train": {"num_boost_round": 10},
        "predict": {"output": str(home / "out" / "predictions.parquet")},
        "mlflow": {"tracking_uri": f"sqlite:///{home}/mlflow.db"},
    }
    (home / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(home)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        result = mlscale.run(home / "recipe.yaml", overrides=LEAN)
    assert result.model.schema.categories["code"] == ["007", "012", "A12"]
    assert {c: d.kind for c, d in result.model.schema.derived.items()} == {
        "opened": "datetime",
        "remarks": "text",
    }
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": result.tracking_uri,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
    }
    return Logged(home, f"runs:/{result.run_id}/model", result.model, env)


def _expected(logged: Logged, name: str) -> np.ndarray:
    """mlscale's own probabilities for a client file's rows (categoricals read as text)."""
    out, _ = logged.model.predict_frame(pd.read_csv(logged.home / name, dtype=TEXT))
    return out["probability"].to_numpy()


@pytest.fixture(scope="module")
def pyfunc(logged: Logged):
    import mlflow

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", logged.env["MLFLOW_TRACKING_URI"])
        return mlflow.pyfunc.load_model(logged.uri)


def test_the_signature_names_the_features_and_the_probability_class(logged: Logged, pyfunc) -> None:
    inputs = pyfunc.metadata.get_input_schema().to_dict()
    assert [(c["name"], c["type"]) for c in inputs] == [(f, "any") for f in logged.model.schema.features]
    outputs = pyfunc.metadata.get_output_schema().to_dict()
    assert [c["name"] for c in outputs] == ["prediction", "probability_1"]


@pytest.mark.parametrize("name", ["ints.csv", "gaps.csv"])
def test_pyfunc_takes_a_frame_pandas_read_from_a_csv(logged: Logged, pyfunc, name: str) -> None:
    rows = pd.read_csv(logged.home / name)
    assert rows["score"].dtype == np.int64  # what failed: MLflow refused int64 for a double column
    got = pyfunc.predict(rows)
    assert list(got.columns) == ["prediction", "probability_1"]
    np.testing.assert_allclose(got["probability_1"], _expected(logged, name), rtol=1e-6)
    assert ((got["probability_1"] >= 0.5).astype(int) == got["prediction"]).all()


@pytest.mark.parametrize(
    "dtypes",
    [
        {"items": "int8", "score": "int16"},
        {"items": "int32", "score": "int64"},
        {"items": "uint8", "score": "float32"},
        {"items": "uint64", "score": "Int64", "flag": "boolean"},
        {"items": "float64", "flag": "int64"},
        {"items": "object", "score": "object", "flag": "object"},
    ],
)
def test_pyfunc_takes_every_numeric_width_and_booleans(
    logged: Logged, pyfunc, dtypes: dict[str, str]
) -> None:
    rows = pd.read_csv(logged.home / "ints.csv").astype(dtypes)
    for col, dtype in dtypes.items():
        if dtype in ("Int64", "boolean", "object"):
            rows.loc[0, col] = None  # missing, as this dtype holds it
    as_floats = rows.astype({col: "float64" for col in dtypes})
    expected, _ = logged.model.predict_frame(as_floats)
    got = pyfunc.predict(rows)
    np.testing.assert_allclose(got["probability_1"], expected["probability"], rtol=1e-6)


def test_pyfunc_finds_columns_by_name_and_ignores_others(logged: Logged, pyfunc) -> None:
    rows = pd.read_csv(logged.home / "gaps.csv")
    shuffled = rows[list(reversed(rows.columns))].assign(customer_id=range(len(rows)))
    np.testing.assert_allclose(
        pyfunc.predict(shuffled)["probability_1"], _expected(logged, "gaps.csv"), rtol=1e-6
    )
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException, match=r"Model is missing inputs \['items'\]"):
        pyfunc.predict(rows.drop(columns="items"))
    all_blank = rows.assign(colour=np.nan)  # pandas reads a text column with no value as float64
    expected, _ = logged.model.predict_frame(all_blank.astype({"colour": object}))
    np.testing.assert_allclose(pyfunc.predict(all_blank)["probability_1"], expected["probability"], rtol=1e-6)


def _models_predict(logged: Logged, source: Path, content_type: str) -> pd.DataFrame:
    out = logged.home / f"{source.stem}-{content_type}.json"
    done = subprocess.run(
        [
            str(BIN / "mlflow"),
            "models",
            "predict",
            "-m",
            logged.uri,
            "-i",
            str(source),
            "-t",
            content_type,
            "-o",
            str(out),
            "--env-manager",
            "local",
        ],
        env=logged.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return pd.DataFrame(json.loads(out.read_text())["predictions"])


@pytest.mark.parametrize("name", ["ints.csv", "gaps.csv"])
def test_mlflow_models_predict_reads_csv_and_json(logged: Logged, name: str) -> None:
    got = _models_predict(logged, logged.home / name, "csv")
    np.testing.assert_allclose(got["probability_1"], _expected(logged, name), rtol=1e-6)
    split = json.loads(pd.read_csv(logged.home / name, dtype=TEXT).to_json(orient="split", index=False))
    (logged.home / f"{name}.json").write_text(json.dumps({"dataframe_split": split}))
    got = _models_predict(logged, logged.home / f"{name}.json", "json")
    np.testing.assert_allclose(got["probability_1"], _expected(logged, name), rtol=1e-6)


def _post(url: str, body: bytes, content_type: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def served(logged: Logged) -> Iterator[str]:
    """`mlflow models serve` on 127.0.0.1 and a free port; stopped by its PID (with its uvicorn child)."""
    port = free_port()
    cmd = [str(BIN / "mlflow"), "models", "serve", "-m", logged.uri, "--env-manager", "local"]
    cmd += ["-h", "127.0.0.1", "-p", str(port)]
    url = f"http://127.0.0.1:{port}"
    with started(cmd, url + "/ping", logged.home / "serve.log", env=logged.env, timeout=120):
        yield url + "/invocations"


@pytest.mark.parametrize("name", ["ints.csv", "gaps.csv"])
def test_mlflow_models_serve_answers_split_and_records(logged: Logged, served: str, name: str) -> None:
    rows = pd.read_csv(logged.home / name, dtype=TEXT)
    split = json.loads(rows.to_json(orient="split", index=False))
    records = json.loads(rows[list(reversed(rows.columns))].assign(extra=1).to_json(orient="records"))
    for payload in ({"dataframe_split": split}, {"dataframe_records": records}):
        status, answer = _post(served, json.dumps(payload).encode(), "application/json")
        assert status == 200, answer
        got = pd.DataFrame(answer["predictions"])
        assert list(got.columns) == ["prediction", "probability_1"]
        np.testing.assert_allclose(got["probability_1"], _expected(logged, name), rtol=1e-6)


def test_mlflow_models_serve_refuses_csv_bodies_in_one_message(logged: Logged, served: str) -> None:
    """MLflow's csv reader needs a type per column, and the signature declares `Any` (docs/guide.md)."""
    status, answer = _post(served, (logged.home / "ints.csv").read_bytes(), "text/csv")
    assert status == 400
    assert "inputs types are not DataType" in answer["message"]
