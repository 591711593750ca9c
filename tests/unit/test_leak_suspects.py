"""A feature that alone predicts the target almost perfectly (a column derived from it) is named: by the
run, once, as a warning, a tag and a note of the report's data section; by `mlscale init`, beside the
other target candidates. The shipped recipes have no such column."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import LEAN

import mlscale
from mlscale.data import prepare
from mlscale.data.leaks import THRESHOLD, leak_scores, leak_suspects
from mlscale.recipe import load_recipe
from mlscale.scaffold import guess_target, scaffold_recipe

ROOT = Path(__file__).resolve().parents[2]


def churn_table(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Customers and whether they churned (yes/no, the last column); `revenue` is booked only for those
    who stayed, so it gives the answer away."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 73, n)
    plan = rng.choice(["basic", "plus", "pro"], n)
    monthly = np.round(rng.uniform(20, 120, n), 2)
    p_churn = 1 / (1 + np.exp(0.05 * (tenure - 24) + 0.5 * (plan == "pro")))
    churn = np.where(rng.random(n) < p_churn, "yes", "no")
    revenue = np.where(churn == "yes", rng.uniform(0, 100, n), rng.uniform(95, 2000, n)).round(2)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "tenure": tenure,
            "plan": plan,
            "monthly": monthly,
            "revenue": revenue,
            "churn": churn,
        }
    )


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_a_column_derived_from_the_target_is_the_only_suspect(task: str) -> None:
    rng = np.random.default_rng(1)
    n = 3000
    x = pd.DataFrame({"noise": rng.normal(size=n), "weak": rng.normal(size=n)})
    if task == "regression":
        y = np.exp(x["weak"] + rng.normal(size=n))  # heavy-tailed
        x["derived"] = np.log(y) * 3 + 1  # orders the target perfectly
    else:
        y = rng.integers(0, 2 if task == "binary" else 4, n)
        x["weak"] += y * 0.5
        x["derived"] = pd.Categorical(np.array(["a", "b", "c", "d"])[y])  # the class, as text
    x["row_id"] = np.arange(n)  # a distinct value per row: predicts nothing on new rows
    scores = leak_scores(x, y, task)
    suspects = leak_suspects(scores, task)
    assert [s.column for s in suspects] == ["derived"]
    assert suspects[0].score > 0.995
    assert max(scores["noise"], scores["weak"], scores["row_id"]) < 0.8


def test_a_small_or_lopsided_sample_is_not_judged() -> None:
    y = np.array([0] * 95 + [1] * 5)
    x = pd.DataFrame({"copy": y.astype(float)})
    assert leak_scores(x, y, "binary") == {}  # 5 rows of a class: a perfect score by chance is plausible
    assert leak_scores(x.head(50), y[:50], "regression") == {}


@pytest.mark.parametrize("name", ["breast_cancer", "diabetes", "wine"])
def test_the_shipped_recipes_have_no_suspects(name: str) -> None:
    data = prepare(load_recipe(ROOT / "recipes" / f"{name}.yaml"))
    scores = leak_scores(data.x_train, data.y_train, data.schema.task, levels=data.schema.categories)
    assert len(scores) == len(data.schema.features)
    assert max(scores.values()) < THRESHOLD


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLSCALE_HOME", str(tmp_path / "home"))
    churn_table().to_csv(tmp_path / "churn.csv", index=False)
    return tmp_path


def test_a_run_warns_once_about_the_derived_column_and_tags_it(
    workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from mlflow.tracking import MlflowClient

    recipe = workdir / "churn.yaml"
    recipe.write_text(
        "name: churn\n"
        "data: {source: csv, path: churn.csv, target: churn, exclude: [customer_id]}\n"
        "train: {num_boost_round: 20}\n"
    )
    with caplog.at_level(logging.INFO, logger="mlscale"):
        result = mlscale.run(recipe, overrides=LEAN)
    warned = [r for r in caplog.records if "alone predicts" in r.getMessage()]
    assert len(warned) == 1 and warned[0].levelno == logging.WARNING
    assert re.fullmatch(
        r"data: feature 'revenue' alone predicts 'churn' \(train AUC (0\.99\d|1\.000)\): "
        r"a leak\? leave it out with data\.exclude",
        warned[0].getMessage(),
    )
    assert result.metrics["test_auc"] > 0.95  # the model still trains (on the leak)
    client = MlflowClient(result.tracking_uri)
    tag = client.get_run(result.run_id).data.tags["data.leak_suspects"]
    assert re.fullmatch(r"revenue \(AUC (0\.99\d|1\.000)\)", tag)
    section = json.loads(
        Path(client.download_artifacts(result.run_id, "report/data/section.json", str(workdir))).read_text()
    )
    assert any("'revenue' alone predicts 'churn'" in note for note in section["notes"])


def test_init_names_the_suspect_and_other_target_candidates(workdir: Path) -> None:
    text = scaffold_recipe(data=str(workdir / "churn.csv"))
    prose = " ".join(line.strip()[2:] for line in text.splitlines() if line.strip().startswith("# "))
    assert re.search(r"^  target: churn ", text, re.M)
    assert "Other target candidates: plan." in prose
    found = re.search(r"Column 'revenue' alone predicts 'churn' almost perfectly [^(]*\(AUC ([0-9.]+)", prose)
    assert found and float(found.group(1)) >= THRESHOLD
    assert "'tenure' alone" not in prose and "'monthly' alone" not in prose


def test_target_candidates_by_name_word_values_and_labels() -> None:
    rng = np.random.default_rng(3)
    n = 200
    frame = pd.DataFrame(
        {
            "amount": rng.normal(size=n),
            "class_label": rng.integers(0, 5, n),  # words of target names
            "segment": rng.choice(["a", "b", "c", "d"], n),  # a few text labels
            "city": [f"city{i}" for i in range(n)],  # text, but no labels
            "paid": rng.choice(["yes", "no"], n),  # two values
            "churn": rng.choice(["yes", "no"], n),
            "score": rng.normal(size=n),
        }
    )
    assert guess_target(frame, []) == (
        "churn",
        "guessed from its name",
        ["score", "class_label", "paid", "segment"],
    )
    only_numbers = frame[["amount", "score"]].assign(price=rng.normal(size=n))
    assert guess_target(only_numbers, [])[2] == []
