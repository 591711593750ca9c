"""The evaluation's numbers on inputs small enough to check by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from mlscale.assess.evaluation import (
    brier,
    calibration,
    confusion,
    error_by_decile,
    evaluate_binary,
    evaluate_multiclass,
    evaluate_predictions,
    f1_threshold,
    slice_labels,
    slice_report,
    target_threshold,
)
from mlscale.report.section import ReportImage, ReportSection, ReportTable

# p >= 0.9: P 1, R 1/3 | >= 0.8: P 1, R 2/3 | >= 0.4: P 2/3, R 2/3 | >= 0.35: P 3/4, R 1 | >= 0.1: P 3/5, R 1
Y = np.array([0, 0, 1, 1, 1])
P = np.array([0.1, 0.4, 0.35, 0.8, 0.9])


def test_brier_is_the_mean_squared_error_of_the_probabilities() -> None:
    y = np.array([0, 1, 1, 0])
    assert brier(y, np.array([0.1, 0.8, 0.6, 0.3])) == pytest.approx((0.01 + 0.04 + 0.16 + 0.09) / 4)


def test_calibration_bins_hold_their_rows_and_skip_empty_bins() -> None:
    bins = calibration(np.array([0, 1, 0, 1, 1]), np.array([0.05, 0.15, 0.12, 0.95, 1.0]))
    assert [(b.low, b.high, b.rows) for b in bins] == [(0.0, 0.1, 1), (0.1, 0.2, 2), (0.9, 1.0, 2)]
    assert bins[1].predicted == pytest.approx(0.135) and bins[1].observed == 0.5
    assert bins[2].observed == 1.0


def test_the_f1_threshold_is_found_by_hand() -> None:
    best = f1_threshold(Y, P)
    assert best.threshold == pytest.approx(0.35)
    assert (best.precision, best.recall) == (0.75, 1.0)
    assert best.f1 == pytest.approx(6 / 7)


def test_target_precision_and_recall_thresholds() -> None:
    by_precision = target_threshold(Y, P, precision=1.0)
    assert by_precision is not None and by_precision.threshold == pytest.approx(0.8)
    assert by_precision.recall == pytest.approx(2 / 3)
    by_recall = target_threshold(Y, P, recall=1.0)
    assert by_recall is not None and by_recall.threshold == pytest.approx(0.35)
    assert target_threshold(np.array([1, 0]), np.array([0.1, 0.9]), precision=0.99) is None


def test_the_confusion_matrix_is_cut_at_the_chosen_threshold() -> None:
    ev = evaluate_binary(Y, P, ["no", "yes"], target_precision=1.0)
    assert ev.chosen.rule == "precision >= 1" and ev.chosen.threshold == pytest.approx(0.8)
    assert ev.confusion.counts == [[2, 0], [1, 2]]
    assert evaluate_binary(Y, P, ["no", "yes"]).confusion.counts == [[1, 1], [0, 3]]
    unreachable = evaluate_binary(np.array([1, 0]), np.array([0.1, 0.9]), ["a", "b"], target_precision=0.99)
    assert unreachable.target is None and "no threshold reaches precision 0.99" in (
        unreachable.target_note or ""
    )
    assert unreachable.chosen.rule == "max F1"


def test_per_class_precision_and_recall() -> None:
    proba = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
    ev = evaluate_multiclass(np.array([0, 0, 1, 2]), proba, ["a", "b", "c"])
    assert [(c.label, c.precision, c.recall, c.support) for c in ev.classes] == [
        ("a", 1.0, 0.5, 2), ("b", 0.5, 1.0, 1), ("c", 1.0, 1.0, 1)
    ]  # fmt: skip
    assert ev.confusion.counts == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_error_by_decile_of_the_prediction() -> None:
    deciles = error_by_decile(np.array([2.0, 2.0, 3.0, 6.0]), np.array([1.0, 2.0, 3.0, 4.0]), groups=2)
    assert [(d.decile, d.low, d.high, d.rows) for d in deciles] == [(1, 1.0, 2.0, 2), (2, 3.0, 4.0, 2)]
    assert (deciles[0].bias, deciles[0].mae, deciles[0].rmse) == pytest.approx((0.5, 0.5, math.sqrt(0.5)))
    assert (deciles[1].bias, deciles[1].mae, deciles[1].rmse) == pytest.approx((1.0, 1.0, math.sqrt(2)))
    assert len(error_by_decile(np.arange(3.0), np.arange(3.0))) == 3  # fewer rows than deciles


def test_slices_are_ranked_worst_first_and_small_ones_are_not_listed_as_worst() -> None:
    values = pd.Series(["a", "a", "b", "b", "c"])
    y = np.array([1.0, 2.0, 1.0, 2.0, 0.0])
    pred = np.array([1.0, 2.0, 2.0, 1.0, 9.0])  # a: perfect, b: off by 1, c: off by 9 but a single row
    report = slice_report("regression", "group", values, y, pred, min_rows=2)
    assert report.metric == "rmse" and report.mode == "min"
    assert [s.value for s in report.worst] == ["b", "a"]
    assert [s.value for s in report.slices] == ["b", "a", "c"]
    assert report.slices[0].metrics["rmse"] == pytest.approx(1.0)


def test_slice_labels_use_canonical_text_deciles_and_a_missing_slice() -> None:
    assert list(slice_labels(pd.Series([1.0, 2.0, None, 1.0]))) == ["1", "2", "(missing)", "1"]
    many = slice_labels(pd.Series(np.arange(100, dtype=float)))
    assert len(set(many)) == 10 and all(text.startswith("(") for text in many)


def test_evaluate_predictions_per_task() -> None:
    binary = evaluate_predictions("binary", Y, P, classes=[0, 1], slices={"s": pd.Series(list("aabbb"))})
    assert binary.binary is not None and binary.multiclass is None and binary.slices[0].metric == "logloss"
    regression = evaluate_predictions("regression", np.arange(30.0), np.arange(30.0) + 1, classes=None)
    assert regression.regression is not None
    assert np.allclose(regression.regression.residuals, -1.0) and len(regression.regression.deciles) == 10


def test_a_report_section_is_plain_json_without_nan() -> None:
    section = ReportSection(
        title="Evaluation", order=40, notes=["n"],
        tables=[ReportTable(title="t", columns=["a", "b", "c", "d"],
                             rows=[[np.float32(0.5), np.int64(3), float("nan"), np.bool_(True)]])],
        images=[ReportImage(file="x.png", caption="c")],
    )  # fmt: skip
    data = json.loads(section.to_json())
    assert data == {
        "title": "Evaluation", "order": 40, "notes": ["n"],
        "tables": [{"title": "t", "columns": ["a", "b", "c", "d"], "rows": [[0.5, 3, None, True]]}],
        "images": [{"file": "x.png", "caption": "c"}],
    }  # fmt: skip
    assert type(data["tables"][0]["rows"][0][1]) is int


def test_confusion_counts_each_pair() -> None:
    assert confusion(np.array([0, 1, 1]), np.array([1, 1, 0]), ["x", "y"]).counts == [[0, 1], [1, 1]]


def test_the_evaluation_section_names_the_chosen_threshold_and_the_worst_slice() -> None:
    from mlscale.workflow.assessment import evaluation_section

    ev = evaluate_predictions("binary", Y, P, classes=["n", "y"], target_recall=1.0,
                              slices={"s": pd.Series(list("aabbb"))}, slice_min_rows=1)  # fmt: skip
    section = json.loads(evaluation_section(ev, []).to_json())
    assert "the confusion matrix uses the recall >= 1 threshold, 0.3500" in section["notes"]
    assert any(n.startswith("worst s slices by logloss") for n in section["notes"])
    confusion_table = next(t for t in section["tables"] if t["title"].startswith("Confusion"))
    assert confusion_table["rows"] == [["n", 1, 1], ["y", 0, 3]]


def test_target_thresholds_are_binary_settings_and_one_at_a_time(workdir) -> None:
    from pathlib import Path

    import mlscale
    from mlscale import RecipeError

    recipes = Path(__file__).resolve().parents[2] / "recipes"
    both = {"evaluate.target_precision": 0.9, "evaluate.target_recall": 0.8}
    with pytest.raises(RecipeError, match="name one of target_precision or target_recall, not both"):
        mlscale.load_recipe(recipes / "breast_cancer.yaml", overrides=both)
    with pytest.raises(RecipeError, match="binary settings, but task is multiclass"):
        mlscale.load_recipe(recipes / "wine.yaml", overrides={"evaluate.target_recall": 0.8})
    loaded = mlscale.load_recipe(
        recipes / "breast_cancer.yaml", overrides={"evaluate.slices": ["mean_radius"]}
    )
    assert loaded.evaluate.slices == ["mean_radius"] and loaded.evaluate.explain.sample_rows == 500
