"""The run report: one self-contained report.html per run, rebuilt from the MLflow run alone.

`write_run_report` (end of every run), `rebuild` (`mlscale report RUN`) and `table_page`
(`mlscale compare/bench --html`) all render through `render.write_html`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlscale.data import Dataset
    from mlscale.recipe import Recipe
    from mlscale.tracking.runs import RunTracker

log = logging.getLogger("mlscale")


def write_run_report(tracker: RunTracker, recipe: Recipe, data: Dataset) -> Path | None:
    """Log what only the run knows (data profile, constant baseline), build the page from the run, write it
    beside the predictions and log it. A failure here is a warning: the model and metrics are logged."""
    from mlscale.report.collect import collect
    from mlscale.report.profile import constant_baseline, profile_section
    from mlscale.report.render import write_html
    from mlscale.scoring.paths import REPORT_FILE, report_path
    from mlscale.tracking.read import read_run

    started = time.perf_counter()
    try:
        tracker.log_text(profile_section(data).to_json(), "report/data/section.json")
        tracker.log_metrics(constant_baseline(data))
        assert tracker.run_id is not None
        path = write_html(collect(read_run(tracker.uri, tracker.run_id)), report_path(recipe))
        tracker.log_artifact(path)
    except Exception as exc:
        log.warning("report: could not write %s (%s: %s)", REPORT_FILE, type(exc).__name__, exc)
        return None
    tracker.log_metrics({"time_report_s": round(time.perf_counter() - started, 4)})
    log.info("report: %s", path)
    return path


def rebuild(ref: str, *, tracking_uri: str | None = None, out: str | Path | None = None) -> Path:
    """`mlscale report RUN_OR_URI`: the run's page, from MLflow alone."""
    from mlscale.report.collect import collect
    from mlscale.report.render import write_html
    from mlscale.scoring.paths import DEFAULT_DIR
    from mlscale.tracking.read import read_run
    from mlscale.tracking.runs import check_reachable, resolve_uri

    uri = resolve_uri(tracking_uri)
    check_reachable(uri)
    run = read_run(uri, ref)
    return write_html(collect(run), out or DEFAULT_DIR / f"report-{run.run_id}.html")


def table_page(title: str, table: Any, charts: list[Path], out: str | Path) -> Path:
    """`mlscale compare/bench --html`: their table and charts as the same kind of page."""
    from mlscale.report.page import ReportData
    from mlscale.report.render import write_html
    from mlscale.report.section import ReportImage, ReportSection, ReportTable, scalar

    rows = [[scalar(v) for v in r] for r in table.itertuples(index=False)]
    section = ReportSection(
        key="table",
        title=title,
        order=10,
        tables=[ReportTable(title="", columns=[str(c) for c in table.columns], rows=rows)],
        images=[ReportImage.from_file(p, caption=p.stem) for p in charts if p.suffix == ".png"],
    )
    return write_html(ReportData(title=title, facts=[("rows", str(len(table)))], sections=[section]), out)
