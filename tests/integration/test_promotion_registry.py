"""Gated promotion against real MLflow registries: the test suite's `mlflow server` and the default sqlite
store in the working directory."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import LEAN, cli_in_process

import mlscale
from mlscale.tracking.models import load_model

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes/breast_cancer.yaml"


def _client(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri)


def _new_rows(workdir: Path, n: int = 30) -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.drop(columns=["target"]).head(n)
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame.to_parquet(workdir / "new.parquet")
    return frame


def test_worse_run_is_challenger_better_run_takes_champion(
    mlflow_server, monkeypatch, workdir, capsys, cli_state
):
    """test_auc on breast_cancer's test split: 20 rounds 0.9580, 5 rounds 0.9516, 50 rounds 0.9646."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    name = "bc_promotion_test"
    sets = {"tune": None, "predict": None, "mlflow.registered_model": name, "mlflow.promote": {}, **LEAN}
    first = mlscale.run(RECIPE, overrides={**sets, "train.num_boost_round": 20})
    second = mlscale.run(RECIPE, overrides={**sets, "train.num_boost_round": 5})
    client = _client(mlflow_server)

    assert first.promotion is not None and first.promotion.alias == "champion"
    assert first.promotion.decision.reason == "no version held @champion"
    assert second.promotion is not None and second.promotion.alias == "challenger"
    assert second.metrics["test_auc"] < first.metrics["test_auc"]
    model = client.get_registered_model(name)
    assert model.aliases == {"champion": "1", "challenger": "2"}
    for tags in (client.get_run(second.run_id).data.tags, client.get_model_version(name, "2").tags):
        assert tags["mlscale.promotion"] == "challenger"
        assert tags["mlscale.promotion.champion_version"] == "1"
        # the champion re-scored on run 2's test split: the same split as run 1, so run 1's own number
        assert float(tags["mlscale.promotion.champion_value"]) == pytest.approx(first.metrics["test_auc"])
        assert float(tags["mlscale.promotion.value"]) == pytest.approx(second.metrics["test_auc"])
        assert "not better by more than min_delta 0" in tags["mlscale.promotion.reason"]
    assert client.get_run(first.run_id).data.tags["mlscale.promotion"] == "champion"

    # the third run through the CLI: its summary line says what happened, with both numbers
    args = ["run", str(RECIPE), "-q", "--set", "train.num_boost_round=50"]
    args += [x for k, v in sets.items() for x in ("--set", f"{k}={'null' if v is None else v}")]
    code, out, err = cli_in_process(args, capsys)
    assert code == 0, err[-3000:]
    line = next(x for x in out.splitlines() if x.startswith("promotion: "))
    assert line.startswith(f"promotion: models:/{name}@champion is version 3: test_auc 0.96")
    assert "(@champion version 1, re-scored on this run's test split): better by" in line
    assert client.get_registered_model(name).aliases == {"champion": "3", "challenger": "2"}
    third = client.get_model_version(name, "3")
    assert third.tags["mlscale.promotion"] == "champion"
    assert float(third.tags["mlscale.promotion.value"]) > float(
        third.tags["mlscale.promotion.champion_value"]
    )

    # models:/NAME@champion: mlscale predict, and the logged pyfunc (what `mlflow models predict` loads)
    frame = _new_rows(workdir)
    code, _, err = cli_in_process(
        ["predict", str(RECIPE), "-q", "--model", f"models:/{name}@champion", "--input", "new.parquet",
         "--output", "scored.parquet", "--set", "predict.id_columns=[]"],
        capsys,
    )  # fmt: skip
    assert code == 0, err[-3000:]
    import mlflow

    champion = load_model(f"models:/{name}/3", tracking_uri=mlflow_server)
    expected = champion.booster.inplace_predict(frame)
    scored = pd.read_parquet(workdir / "scored.parquet")
    np.testing.assert_allclose(scored["probability"].to_numpy(), expected, rtol=1e-6)
    mlflow.set_tracking_uri(mlflow_server)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    np.testing.assert_allclose(pyfunc.predict(frame)["probability_1"].to_numpy(), expected, rtol=1e-6)
    first_model = load_model(f"models:/{name}/1", tracking_uri=mlflow_server)
    assert not np.allclose(first_model.booster.inplace_predict(frame), expected)  # version 3, not 1


def _csv(path: Path, *, drop: str | None = None) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({c: rng.normal(size=400) for c in ("a", "b", "c")})
    frame["target"] = (frame["a"] + frame["c"] > 0).astype(int)
    frame.drop(columns=[drop] if drop else []).to_csv(path, index=False)


def test_default_sqlite_store_and_a_champion_whose_features_do_not_match(workdir, capsys, cli_state):
    """The default store (sqlite:///mlflow.db in the working dir) has a registry; a champion trained with a
    column this run's data lacks cannot be re-scored: this version is challenger, and the reason says why."""
    (workdir / "r.yaml").write_text(
        "name: promo\ndata: {source: csv, path: data.csv}\ntrain: {num_boost_round: 20}\n"
        "evaluate: {reference: 'off'}\nmlflow: {registered_model: promo, promote: {min_delta: 0.01}}\n"
    )
    _csv(workdir / "data.csv")
    first = mlscale.run(workdir / "r.yaml")
    assert first.tracking_uri == f"sqlite:///{workdir / 'mlflow.db'}"
    assert first.promotion is not None and first.promotion.alias == "champion"
    _csv(workdir / "data.csv", drop="c")
    code, out, err = cli_in_process(["run", str(workdir / "r.yaml"), "-q"], capsys)
    assert code == 0, err[-3000:]
    assert (
        "promotion: models:/promo@challenger is version 2: @champion version 1 could not be re-scored on this "
        "run's test split (its feature column(s) 'c' are not in this run's data); it stays @champion"
    ) in out
    client = _client(first.tracking_uri)
    aliases = client.get_registered_model("promo").aliases  # versions as int from sqlite, as text over REST
    assert {k: str(v) for k, v in aliases.items()} == {"champion": "1", "challenger": "2"}
    assert "'c'" in client.get_model_version("promo", "2").tags["mlscale.promotion.reason"]


class _NoRegistry(http.server.BaseHTTPRequestHandler):
    """An endpoint that answers /health and nothing else, like a server without the registry API."""

    def do_GET(self):
        self.send_response(200 if self.path.startswith("/health") else 404)
        self.end_headers()
        self.wfile.write(b"OK" if self.path.startswith("/health") else b"")

    do_POST = do_GET

    def log_message(self, *args):
        pass


def test_store_without_a_registry_fails_before_training(monkeypatch, workdir, capsys, cli_state):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NoRegistry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        uri = f"http://127.0.0.1:{server.server_address[1]}"
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        code, _out, err = cli_in_process(
            ["run", str(RECIPE), "--set", "mlflow.registered_model=bc", "--set", "mlflow.promote={}"], capsys
        )
    finally:
        server.shutdown()
        server.server_close()
    assert code == 2
    errors = [x for x in err.splitlines() if x.startswith("error:")]
    assert errors == [
        f"error: {RECIPE}: mlflow.registered_model: the tracking server {uri} serves no model registry"
    ]
    assert "train: " not in err  # refused before training
    assert not (workdir / "output").exists()
