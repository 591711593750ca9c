"""A run logs report/evaluation and report/explanations (PNGs plus section.json in the shape the HTML
report reads) for binary, multiclass and regression recipes, and their metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mlscale

ROOT = Path(__file__).resolve().parents[2]
SECTION_KEYS = {"title", "order", "notes", "tables", "images"}


def _sections(result, tmp: Path) -> dict[str, tuple[dict, set[str]]]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(result.tracking_uri)
    out = {}
    for name in ("evaluation", "explanations"):
        files = {Path(a.path).name for a in client.list_artifacts(result.run_id, f"report/{name}")}
        local = client.download_artifacts(result.run_id, f"report/{name}/section.json", str(tmp))
        out[name] = (json.loads(Path(local).read_text()), files)
    return out


def _check_shape(section: dict, files: set[str]) -> None:
    assert set(section) == SECTION_KEYS
    assert all(isinstance(n, str) for n in section["notes"])
    for table in section["tables"]:
        assert set(table) == {"title", "columns", "rows"}
        assert all(len(row) == len(table["columns"]) for row in table["rows"])
        assert all(v is None or isinstance(v, (str, int, float, bool)) for row in table["rows"] for v in row)
    assert section["images"] and {i["file"] for i in section["images"]} <= files
    assert all(i["file"].endswith(".png") and i["caption"] for i in section["images"])


@pytest.mark.parametrize(
    ("recipe", "overrides", "expect"),
    [
        ("breast_cancer", {"evaluate.target_precision": 0.97}, "Thresholds"),
        ("wine", {}, "Precision and recall per class"),
        ("diabetes", {"data.exclude": ["sex"], "evaluate.slices": ["sex"], "evaluate.slice_min_rows": 5},
         "Error by decile of the prediction"),
    ],
)  # fmt: skip
def test_a_run_logs_both_report_sections(recipe, overrides, expect, workdir, tmp_path) -> None:
    result = mlscale.run(
        ROOT / f"recipes/{recipe}.yaml",
        overrides={
            "tune": None,
            "train.num_boost_round": 30,
            "evaluate.explain.sample_rows": 50,
            **overrides,
        },
    )
    sections = _sections(result, tmp_path)
    evaluation, files = sections["evaluation"]
    _check_shape(evaluation, files)
    assert (evaluation["title"], evaluation["order"]) == ("Evaluation", 40)
    assert expect in [t["title"] for t in evaluation["tables"]]
    explanations, files = sections["explanations"]
    _check_shape(explanations, files)
    assert (explanations["title"], explanations["order"]) == ("Explanations", 50)
    assert {
        "shap_summary.png",
        "shap_dependence_1.png",
        "shap_dependence_3.png",
        "shap_mean_abs.csv",
    } <= files
    importance = explanations["tables"][0]
    assert importance["columns"] == ["feature", "mean |SHAP|", "kind"]
    assert len(importance["rows"]) == len(result.model.schema.features)
    means = [row[1] for row in importance["rows"]]
    assert means == sorted(means, reverse=True) and means[0] > 0

    from mlflow.tracking import MlflowClient

    run = MlflowClient(result.tracking_uri).get_run(result.run_id)
    metrics = run.data.metrics
    explained = min(50, int(metrics["rows_test"]))  # wine's test split has 36 rows: all of them
    assert metrics["explain_rows"] == explained
    assert sum(k.startswith("shap_mean_abs_") for k in metrics) == min(10, len(result.model.schema.features))
    assert run.data.tags["explain.placement"].startswith(f"{explained}@local(pid ")
    if recipe == "breast_cancer":
        assert 0 <= metrics["test_brier"] < 0.1 and metrics["test_target_precision"] >= 0.97
        assert any(t["title"].startswith("Model vs reference") for t in evaluation["tables"])
    if recipe == "wine":
        assert {"test_precision_0", "test_recall_2"} <= set(metrics)
    if recipe == "diabetes":
        slices = next(t for t in evaluation["tables"] if t["title"].startswith("Metrics by sex"))
        assert slices["columns"][:2] == ["sex", "rows"] and len(slices["rows"]) == 2  # sex: not a feature
        assert "test_worst_slice_sex_rmse" in metrics


def test_explanations_can_be_turned_off(workdir, tmp_path) -> None:
    from mlflow.tracking import MlflowClient

    result = mlscale.run(
        ROOT / "recipes/breast_cancer.yaml",
        overrides={"tune": None, "train.num_boost_round": 10, "evaluate.explain.enabled": False,
                   "evaluate.reference": "off"},
    )  # fmt: skip
    client = MlflowClient(result.tracking_uri)
    assert [Path(a.path).name for a in client.list_artifacts(result.run_id, "report")] == [
        "data",
        "evaluation",
    ]
    assert "explain_rows" not in client.get_run(result.run_id).data.metrics


def test_plots_can_be_turned_off(workdir, tmp_path) -> None:
    from mlflow.tracking import MlflowClient

    result = mlscale.run(
        ROOT / "recipes/breast_cancer.yaml",
        overrides={"tune": None, "train.num_boost_round": 10, "evaluate.plots": False,
                   "evaluate.reference": "off", "evaluate.explain.sample_rows": 20},
    )  # fmt: skip
    client = MlflowClient(result.tracking_uri)
    artifacts = [a.path for a in client.list_artifacts(result.run_id)]
    assert "plots" not in [Path(a).name for a in artifacts]
    assert result.plots == [] and not (workdir / "output/breast_cancer/plots").exists()
    sections = _sections(result, tmp_path)
    for section, files in sections.values():
        assert section["images"] == [] and not any(f.endswith(".png") for f in files)
    assert "explain_rows" in client.get_run(result.run_id).data.metrics  # the numbers are still there
    assert result.report is not None and result.report.exists()
