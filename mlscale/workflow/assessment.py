"""A run's evaluation and explanations, logged as two report sections (`report/evaluation/`,
`report/explanations/`: PNGs plus `section.json`, see `mlscale.report.section`) and as metrics.

The runner calls `assess` once the model and its test metrics are known. The computation lives in
`mlscale.assess.evaluation` and `mlscale.assess.explanations` (pure), the contributions come from the engine
(`Engine.explain`: in process, or on the cluster), the plots from `plots_eval` / `plots_explain`.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlscale.assess.evaluation import MAX_SLICE_ROWS_SHOWN, BinaryEvaluation, Evaluation, evaluate_predictions
from mlscale.assess.explanations import Explanation, explanation, sample_positions
from mlscale.assess.reference import ReferenceResult
from mlscale.data import Dataset
from mlscale.engines.base import ExplainResult
from mlscale.modeling.metrics import compute
from mlscale.modeling.model import Model
from mlscale.recipe import Recipe
from mlscale.report.plots_eval import evaluation_plots
from mlscale.report.plots_explain import explanation_plots
from mlscale.report.section import SECTION_FILE, ReportImage, ReportSection, ReportTable, Scalar
from mlscale.tracking import runs as tracking

log = logging.getLogger("mlscale")

EVALUATION_ORDER = 40
EXPLANATIONS_ORDER = 50


@dataclass(kw_only=True)
class Assessment:
    evaluation: Evaluation
    explanation: Explanation | None = None
    explained: ExplainResult | None = None
    metrics: dict[str, float] = field(default_factory=dict)


def assess(
    recipe: Recipe,
    data: Dataset,
    model: Model,
    engine: Any,
    tracker: tracking.RunTracker,
    *,
    reference: ReferenceResult | None = None,
) -> Assessment:
    """Evaluate `model` on the test split (the valid split when there is none), explain a sample of it
    with `engine`, log both sections and their metrics; returns what was computed."""
    cfg = recipe.evaluate
    split, x, y = (
        ("test", data.x_test, data.y_test) if len(data.x_test) else ("valid", data.x_valid, data.y_valid)
    )
    raw = model.raw_predict(x)
    slices = {c: data.test_frame[c] for c in cfg.slices} if split == "test" else {}
    evaluation = evaluate_predictions(
        model.schema.task,
        y,
        raw,
        classes=model.schema.classes,
        split=split,
        slices=slices,
        target_precision=cfg.target_precision,
        target_recall=cfg.target_recall,
        slice_min_rows=cfg.slice_min_rows,
    )
    result = Assessment(evaluation=evaluation, metrics=evaluation_metrics(evaluation))
    with tempfile.TemporaryDirectory(prefix="mlscale-report-") as tmp:
        out = Path(tmp) / "evaluation"
        proba = raw if model.schema.task == "binary" else None
        images = evaluation_plots(evaluation, out, y=y, proba=proba) if cfg.plots else []
        ours = compute(model.schema.task, y, raw)
        section = evaluation_section(evaluation, images, reference=reference, model_metrics=ours)
        if cfg.slices and split != "test":
            section.notes.append("metrics by slice need a test split (data.split.test is 0)")
        _log_section(tracker, out, section, "report/evaluation")
        if cfg.explain.enabled and len(x):
            positions = sample_positions(len(x), cfg.explain.sample_rows, recipe.train.seed)
            sample = x.iloc[positions].reset_index(drop=True)
            result.explained = engine.explain(model, sample)
            result.explanation = explanation(model.schema, np.asarray(result.explained.values), sample)
            result.metrics.update(
                explanation_metrics(result.explanation, result.explained, cfg.explain.top_features)
            )
            out = Path(tmp) / "explanations"
            out.mkdir(parents=True, exist_ok=True)
            images = explanation_plots(result.explanation, out) if cfg.plots else []
            section = explanations_section(
                result.explanation,
                result.explained,
                images,
                split=split,
                of=len(x),
                unit=recipe.engine.settings.work_unit,
            )
            (out / "shap_mean_abs.csv").write_text(_csv(section.tables[0]))
            _log_section(tracker, out, section, "report/explanations")
            tracker.set_tags({"explain.placement": _placement(result.explained)})
    tracker.log_metrics(result.metrics)
    return result


def _log_section(tracker: tracking.RunTracker, out: Path, section: ReportSection, where: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / SECTION_FILE).write_text(section.to_json())
    for path in sorted(out.iterdir()):
        tracker.log_artifact(path, where)


def _placement(explained: ExplainResult) -> str:
    return ";".join(f"{p.rows}@{p.node}(pid {p.pid})" for p in explained.parts)


def _csv(table: ReportTable) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(table.columns)
    writer.writerows(table.rows)
    return buffer.getvalue()


# -- metrics ---------------------------------------------------------------------------------------
def evaluation_metrics(ev: Evaluation) -> dict[str, float]:
    """Metric names MLflow accepts: {split}_brier, {split}_best_f1(_threshold), {split}_target_*,
    {split}_precision_<class> / recall_<class>, {split}_residual_bias, {split}_worst_slice_<col>_<metric>."""
    s = ev.split
    out: dict[str, float] = {}
    if ev.binary is not None:
        b = ev.binary
        out.update(
            {
                f"{s}_brier": b.brier,
                f"{s}_best_f1": b.best_f1.f1,
                f"{s}_best_f1_threshold": b.best_f1.threshold,
            }
        )
        if b.target is not None:
            t = b.target
            out.update(
                {
                    f"{s}_target_threshold": t.threshold,
                    f"{s}_target_precision": t.precision,
                    f"{s}_target_recall": t.recall,
                }
            )
    if ev.multiclass is not None:
        for c in ev.multiclass.classes:
            out[tracking.mlflow_key(f"{s}_precision_{c.label}")] = c.precision
            out[tracking.mlflow_key(f"{s}_recall_{c.label}")] = c.recall
    if ev.regression is not None:
        out[f"{s}_residual_bias"] = (
            float(np.mean(ev.regression.residuals)) if len(ev.regression.residuals) else 0.0
        )
        out[f"{s}_worst_decile_mae"] = max((d.mae for d in ev.regression.deciles), default=0.0)
    for report in ev.slices:
        if report.worst:
            value = report.worst[0].metrics.get(report.metric)
            if value is not None and value == value:
                out[tracking.mlflow_key(f"{s}_worst_slice_{report.column}_{report.metric}")] = value
    return out


def explanation_metrics(exp: Explanation, explained: ExplainResult, top: int) -> dict[str, float]:
    out = {tracking.mlflow_key(f"shap_mean_abs_{e.feature}"): e.mean_abs for e in exp.ranking[:top]}
    out["explain_rows"] = len(exp.values)
    out["explain_seconds"] = explained.seconds
    return out


# -- sections --------------------------------------------------------------------------------------
def _images(images: list[tuple[Path, str]]) -> list[ReportImage]:
    return [ReportImage(file=p.name, caption=c) for p, c in images]


def evaluation_section(
    ev: Evaluation,
    images: list[tuple[Path, str]],
    *,
    reference: ReferenceResult | None = None,
    model_metrics: dict[str, float] | None = None,
) -> ReportSection:
    notes = [f"{ev.split} split: {ev.rows:,} rows"]
    tables: list[ReportTable] = []
    if ev.binary is not None:
        more_notes, more_tables = _binary_parts(ev.binary)
        notes += more_notes
        tables += more_tables
    if ev.multiclass is not None:
        m = ev.multiclass
        tables.append(
            ReportTable(
                title="Precision and recall per class",
                columns=["class", "precision", "recall", "F1", "rows"],
                rows=[[c.label, c.precision, c.recall, c.f1, c.support] for c in m.classes],
            )
        )
        tables.append(
            _confusion_table(m.confusion.labels, m.confusion.counts, "Confusion matrix (most likely class)")
        )
    if ev.regression is not None:
        tables.append(
            ReportTable(
                title="Error by decile of the prediction",
                columns=["decile", "prediction from", "to", "rows", "mean residual", "MAE", "RMSE"],
                rows=[
                    [d.decile, d.low, d.high, d.rows, d.bias, d.mae, d.rmse] for d in ev.regression.deciles
                ],
            )
        )
    for report in ev.slices:
        notes.append(_worst_note(report))
        names = sorted({k for s in report.slices for k in s.metrics})
        shown = report.slices[:MAX_SLICE_ROWS_SHOWN]
        tables.append(
            ReportTable(
                title=f"Metrics by {report.column} (worst {report.metric} first; {len(shown)} of {len(report.slices)} slices)",
                columns=[report.column, "rows", *names],
                rows=[[s.value, s.rows, *(s.metrics.get(k) for k in names)] for s in shown],
            )
        )
    if reference is not None:
        ours = model_metrics or {}
        tables.append(
            ReportTable(
                title=f"Model vs reference ({reference.model} on {reference.rows:,} train rows, {reference.split} split)",
                columns=["metric", "model", "reference"],
                rows=[[k, ours.get(k), v] for k, v in reference.metrics.items()],
            )
        )
    return ReportSection(
        title="Evaluation", order=EVALUATION_ORDER, notes=notes, tables=tables, images=_images(images)
    )


def _binary_parts(b: BinaryEvaluation) -> tuple[list[str], list[ReportTable]]:
    notes = [
        f"Brier score {b.brier:.4f} (0 is perfect; always predicting the base rate scores p(1-p))",
        f"threshold maximising F1: {b.best_f1.threshold:.4f} (precision {b.best_f1.precision:.4f}, "
        f"recall {b.best_f1.recall:.4f}, F1 {b.best_f1.f1:.4f})",
    ]
    if b.target is not None:
        notes.append(
            f"threshold for {b.target.rule}: {b.target.threshold:.4f} (precision "
            f"{b.target.precision:.4f}, recall {b.target.recall:.4f})"
        )
    if b.target_note:
        notes.append(b.target_note)
    notes.append(f"the confusion matrix uses the {b.chosen.rule} threshold, {b.chosen.threshold:.4f}")
    thresholds: list[list[Scalar]] = [
        [t.rule, t.threshold, t.precision, t.recall, t.f1] for t in (b.best_f1, b.target) if t
    ]
    tables = [
        ReportTable(
            title="Thresholds", columns=["rule", "threshold", "precision", "recall", "F1"], rows=thresholds
        ),
        ReportTable(
            title="Calibration",
            columns=["probability from", "to", "mean predicted", "share positive", "rows"],
            rows=[[c.low, c.high, c.predicted, c.observed, c.rows] for c in b.calibration],
        ),
        _confusion_table(
            b.confusion.labels, b.confusion.counts, f"Confusion matrix at threshold {b.chosen.threshold:.4f}"
        ),
    ]
    return notes, tables


def _worst_note(report: Any) -> str:
    if not report.worst:
        return f"{report.column}: no slice has enough rows to rank (evaluate.slice_min_rows)"
    listed = ", ".join(
        f"{s.value} ({s.rows} rows) {s.metrics.get(report.metric, float('nan')):.4f}" for s in report.worst
    )
    return f"worst {report.column} slices by {report.metric} (all rows: {report.overall:.4f}): {listed}"


def _confusion_table(labels: list[str], counts: list[list[int]], title: str) -> ReportTable:
    return ReportTable(
        title=title,
        columns=["true \\ predicted", *labels],
        rows=[[label, *row] for label, row in zip(labels, counts, strict=True)],
    )


def explanations_section(
    exp: Explanation,
    explained: ExplainResult,
    images: list[tuple[Path, str]],
    *,
    split: str,
    of: int,
    unit: str = "task",
) -> ReportSection:
    """`unit`: what the engine calls one unit of its work (EngineSettings.work_unit)."""
    nodes = sorted({p.node for p in explained.parts})
    where = (
        "in this process"
        if nodes == ["local"]
        else f"in {len(explained.parts)} {unit}(s) on {len(nodes)} node(s)"
    )
    notes = [
        f"SHAP values from xgboost itself (pred_contribs: exact TreeSHAP, no interactions) for {len(exp.values):,} of "
        f"{of:,} {split} rows, computed {where} in {explained.seconds:.2f}s",
        f"values are contributions toward the {exp.output}; each row's values plus the bias sum to its raw margin",
    ]
    categorical = [e.feature for e in exp.ranking if e.categorical]
    if categorical:
        notes.append(
            "categorical features are shown by their categories, whatever their encoding: "
            + ", ".join(categorical)
        )
    table = ReportTable(
        title="Mean |SHAP| per feature",
        columns=["feature", "mean |SHAP|", "kind"],
        rows=[[e.feature, e.mean_abs, "categorical" if e.categorical else "numeric"] for e in exp.ranking],
    )
    summed = ReportTable(
        title="Mean |SHAP| per datetime / text column (its features' values summed)",
        columns=["column", "mean |SHAP|"],
        rows=[[e.feature, e.mean_abs] for e in exp.by_column],
    )
    return ReportSection(
        title="Explanations",
        order=EXPLANATIONS_ORDER,
        notes=notes,
        tables=[table, summed] if exp.by_column else [table],
        images=_images(images),
    )
