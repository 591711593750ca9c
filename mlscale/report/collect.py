"""A logged mlscale run -> ReportData: the one path for the page written at run time and by
`mlscale report RUN` (everything comes from the MLflow run: metrics, tags, params, artifacts)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from mlscale.errors import ReportError
from mlscale.report.page import ReportData
from mlscale.report.section import SECTION_FILE, ReportImage, ReportSection, ReportTable, Scalar
from mlscale.report.tuning import tuning_section
from mlscale.tracking.read import RunRecord, download, trial_runs

SPLITS = ("valid", "test")
# metric-name prefix -> column of the metrics table, in order (the run's own model has no prefix)
MODELS = (
    ("constant", "constant (train prior)"),
    ("baseline", "untuned"),
    ("", "model"),
    ("reference", "reference (HistGradientBoosting)"),
)
PLOT_CAPTIONS = {
    "learning_curve.png": "Learning curves (per boosting round)",
    "feature_importance.png": "Feature importance (gain)",
    "predicted_vs_truth.png": "Predicted probability vs truth (test split)",
    "roc_pr.png": "ROC and precision-recall (test split)",
    "confusion_matrix.png": "Confusion matrix (test split)",
    "predicted_vs_actual.png": "Predicted vs actual, residuals (test split)",
}
TUNE_PLOTS = {"tune_trials.png": "Metric per trial", "tune_params.png": "Metric against each parameter"}


def collect(run: RunRecord) -> ReportData:
    if "recipe.name" not in run.tags:
        raise ReportError(f"report: run {run.run_id} is not an mlscale run (no recipe.name tag)")
    with tempfile.TemporaryDirectory(prefix="mlscale-report-") as tmp:
        recipe_file = download(run.tracking_uri, run.run_id, "recipe.yaml", Path(tmp))
        plots_dir = download(run.tracking_uri, run.run_id, "plots", Path(tmp))
        report_dir = download(run.tracking_uri, run.run_id, "report", Path(tmp))
        plots = {p.name: p for p in plots_dir.iterdir()} if plots_dir else {}
        sections = [
            ReportSection(
                key="recipe",
                title="Recipe",
                order=10,
                code=recipe_file.read_text() if recipe_file else None,
                code_title="recipe.yaml, as run",
                notes=[
                    f"recipe {run.tags['recipe.name']} (hash {run.tags.get('recipe.hash', '?')}); "
                    "secrets masked"
                ],
            ),
            _metrics_section(run, plots),
            _timings_section(run),
            _versions_section(run),
            *generic_sections(report_dir),
        ]
        trials = trial_runs(run)
        if trials:
            images = [ReportImage.from_file(plots[n], caption=c) for n, c in TUNE_PLOTS.items() if n in plots]
            sections.append(tuning_section(run, trials, images))
    facts = [
        ("run", run.run_id),
        ("experiment", run.experiment),
        ("status", run.status),
        ("task", run.tags.get("task", "?")),
        ("engine", run.tags.get("engine", "?")),
        ("cluster", run.tags.get("cluster.shape", "?")),
    ]
    warning = run.tags.get("mlscale.quality_warning")
    return ReportData(
        title=f"mlscale run: {run.tags['recipe.name']}",
        facts=facts,
        sections=sections,
        link=run.url,
        notes=[f"quality: {warning}"] if warning else [],
    )


def generic_sections(report_dir: Path | None) -> list[ReportSection]:
    """Every report/<name>/section.json (the contract in mlscale.report.section), images embedded."""
    if report_dir is None:
        return []
    out = []
    for path in sorted(report_dir.glob(f"*/{SECTION_FILE}")):
        section = ReportSection.from_json(path.read_text(), where=f"report/{path.parent.name}/{SECTION_FILE}")
        images = []
        for image in section.images:
            file = path.parent / image.file
            if not file.is_file():
                raise ReportError(f"report/{path.parent.name}: image {image.file!r} is not in the run")
            images.append(ReportImage.from_file(file, caption=image.caption))
        out.append(
            ReportSection(
                key=path.parent.name,
                title=section.title,
                order=section.order,
                notes=list(section.notes),
                tables=list(section.tables),
                images=images,
            )
        )
    return out


def metrics_table(metrics: dict[str, float]) -> ReportTable:
    """Rows: <split>_<metric>; columns: the constant baseline, the untuned model, the run's model (tuned
    when the run tuned) and the reference model, each where the run logged it."""
    tuned = any(k.startswith("baseline_") for k in metrics)
    names = sorted(
        {k for k in metrics if k.startswith(tuple(f"{s}_" for s in SPLITS))},
        key=lambda k: (SPLITS.index(k.split("_", 1)[0]), k),
    )
    models = [(p, "tuned" if p == "" and tuned else label) for p, label in MODELS]
    models = [(p, label) for p, label in models if p == "" or any(k.startswith(f"{p}_") for k in metrics)]
    rows: list[list[Scalar]] = [
        [name, *(metrics.get(f"{p}_{name}" if p else name) for p, _ in models)] for name in names
    ]
    return ReportTable(
        title="Scores by split", columns=["metric", *(label for _, label in models)], rows=rows
    )


def _metrics_section(run: RunRecord, plots: dict[str, Path]) -> ReportSection:
    m = run.metrics
    notes = (
        []
        if "baseline_rounds" in m or "tune_trials" in m
        else [f"{int(m.get('rounds', 0))} boosting round(s)"]
    )
    if "reference_rows" in m:
        notes.append(f"reference fitted on {int(m['reference_rows']):,} train rows, scored on the same split")
    images = [ReportImage.from_file(plots[n], caption=c) for n, c in PLOT_CAPTIONS.items() if n in plots]
    return ReportSection(
        key="metrics", title="Metrics", order=30, notes=notes, tables=[metrics_table(m)], images=images
    )


def _timings_section(run: RunRecord) -> ReportSection:
    rows: list[list[Scalar]] = [
        [k.removeprefix("time_").removesuffix("_s"), v]
        for k, v in run.metrics.items()
        if k.startswith("time_") and k.endswith("_s")
    ]
    rows.sort(key=lambda r: (r[0] == "total", r[0] == "report"))
    shown = ("cluster.", "train.placement", "predict.placement", "host.")
    cluster: list[list[Scalar]] = [["engine", run.tags.get("engine", "?")]]
    cluster += [[k, v] for k, v in sorted(run.tags.items()) if k.startswith(shown)]
    extra: list[list[Scalar]] = [
        [k, run.metrics[k]] for k in ("peak_rss_mb", "predict_rows", "predict_rows_per_s") if k in run.metrics
    ]
    return ReportSection(
        key="timings",
        title="Timings and cluster",
        order=70,
        tables=[
            ReportTable(title="Seconds per phase", columns=["phase", "seconds"], rows=rows),
            ReportTable(title="Engine and cluster shape", columns=["what", "value"], rows=[*cluster, *extra]),
        ],
    )


def _versions_section(run: RunRecord) -> ReportSection:
    rows: list[list[Scalar]] = [
        [k.removeprefix("version."), v] for k, v in sorted(run.tags.items()) if k.startswith("version.")
    ]
    return ReportSection(
        key="versions",
        title="Versions",
        order=80,
        tables=[ReportTable(title="", columns=["package", "version"], rows=rows)],
    )
