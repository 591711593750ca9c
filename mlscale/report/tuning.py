"""The tuning section: every trial (from the run's nested trial runs), and which parameters mattered
(Optuna's fANOVA importance over the completed trials)."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from mlscale.recipe.schema import metric_mode
from mlscale.report.section import ReportImage, ReportSection, ReportTable, Scalar
from mlscale.tracking.read import RunRecord, TrialRecord

TUNING_ORDER = 60
MIN_TRIALS_FOR_IMPORTANCE = 3


def tuning_section(run: RunRecord, trials: Sequence[TrialRecord], images: list[ReportImage]) -> ReportSection:
    metric = run.tags.get("tune.metric", "metric")
    mode = run.params.get("tune.mode")
    mode = mode if mode in ("min", "max") else metric_mode(metric)
    names = sorted({k for t in trials for k in t.params})
    rows: list[list[Scalar]] = [
        [
            t.trial_id,
            t.status,
            t.metrics.get("tune_metric"),
            t.metrics.get("rounds"),
            t.metrics.get("trial_time_s"),
            *(_value(t.params.get(n)) for n in names),
        ]
        for t in trials
    ]
    tables = [
        ReportTable(
            title="Trials", columns=["trial", "status", metric, "rounds", "seconds", *names], rows=rows
        )
    ]
    importance = param_importance(trials, mode)
    if importance:
        tables.append(
            ReportTable(
                title="Parameter importance (fANOVA over completed trials)",
                columns=["parameter", "importance"],
                rows=[[k, v] for k, v in importance.items()],
            )
        )
        images = [*images, _importance_chart(importance)]
    best = run.tags.get("tune.best_trial", "?")
    notes = [
        f"{len(trials)} trial(s), {sum(t.status == 'completed' for t in trials)} completed; "
        f"objective {metric} ({mode}); best trial {best}"
    ]
    if not importance:
        notes.append(f"parameter importance needs {MIN_TRIALS_FOR_IMPORTANCE}+ completed trials")
    return ReportSection(
        key="tuning", title="Tuning", order=TUNING_ORDER, notes=notes, tables=tables, images=images
    )


def param_importance(trials: Sequence[TrialRecord], mode: str) -> dict[str, float]:
    """fANOVA importance of each parameter that varied, over the completed trials ({} when too few)."""
    done = [t for t in trials if t.status == "completed" and _finite(t.metrics.get("tune_metric"))]
    values = {n: [_value(t.params.get(n)) for t in done] for n in sorted({k for t in done for k in t.params})}
    varied = {n: v for n, v in values.items() if None not in v and len({str(x) for x in v}) > 1}
    if len(done) < MIN_TRIALS_FOR_IMPORTANCE or not varied:
        return {}
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the CLI and run() restore loggers afterwards
    columns: dict[str, list[float] | list[str]] = {
        n: [float(x) for x in v] if all(isinstance(x, (int, float)) for x in v) else [str(x) for x in v]  # type: ignore[arg-type]
        for n, v in varied.items()
    }
    dists: dict[str, optuna.distributions.BaseDistribution] = {
        n: FloatDistribution(min(v), max(v))
        if isinstance(v[0], float)
        else CategoricalDistribution(sorted(set(v)))  # type: ignore[type-var,arg-type]
        for n, v in columns.items()
    }
    study = optuna.create_study(direction="minimize" if mode == "min" else "maximize")
    for i, t in enumerate(done):
        params = {n: v[i] for n, v in columns.items()}
        study.add_trial(
            optuna.trial.create_trial(params=params, distributions=dists, value=t.metrics["tune_metric"])
        )
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    found = optuna.importance.get_param_importances(study, evaluator=evaluator)
    return {k: float(v) for k, v in found.items()}


def _importance_chart(importance: dict[str, float]) -> ReportImage:
    from mlscale.report.plots import figures

    plt = figures()
    items = list(importance.items())[::-1]
    fig, ax = plt.subplots(figsize=(5.5, max(2.0, 0.35 * len(items) + 1)))
    ax.barh([k for k, _ in items], [v for _, v in items], color="#4c72b0")
    ax.set_xlabel("importance (share of the metric's variance)")
    ax.set_title("Parameter importance")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return ReportImage.from_bytes(buf.getvalue(), caption="Parameter importance (fANOVA)")


def _value(text: str | None) -> Scalar:
    """An MLflow param (text) as the number it was, when it was one."""
    if text is None:
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
