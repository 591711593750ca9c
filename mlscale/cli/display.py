"""Rich rendering for the CLI: the live progress display, the run summary, plan and comparison tables."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from mlscale.util.masking import mask_text


@contextmanager
def progress_display(*, enabled: bool) -> Iterator[Any]:
    """A live display on a terminal: each phase with its elapsed time; boosting rounds with the latest
    valid metric; tune trials done / total with the best score so far; inference rows/s with an ETA.
    Off for -q, --verbose and when stderr is not a terminal (CI logs stay plain)."""
    if not enabled:
        yield None
        return
    import threading
    import time

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    handler = next((h for h in logging.getLogger("mlscale").handlers if hasattr(h, "console")), None)
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=getattr(handler, "console", None),
        transient=True,
    )
    tasks: dict[str, Any] = {}
    started: dict[str, float] = {}
    lock = threading.Lock()  # engines may report from a background thread

    def on_event(kind: str, info: Any) -> None:
        with lock:
            _draw(kind, info)
            bar.refresh()  # every event is drawn, even one shorter than the refresh interval

    def _draw(kind: str, info: Any) -> None:
        if kind == "phase":
            tasks[info["name"]] = bar.add_task(info["name"], total=None)
            started[info["name"]] = time.monotonic()
        elif kind == "phase_done" and info["name"] in tasks:
            bar.remove_task(tasks.pop(info["name"]))
        elif kind == "trial" and "tune" in tasks:
            best = "" if info["best"] is None else f", best {info['best']:.5f}"
            bar.update(tasks["tune"], total=info["total"], completed=info["done"], description=f"tune{best}")
        elif kind == "round" and "train" in tasks:
            latest = "".join(f", valid {k} {v:.5f}" for k, v in list(info["metrics"].items())[-1:])
            bar.update(
                tasks["train"],
                total=info["total"],
                completed=info["round"],
                description=f"train rounds{latest}",
            )
        elif kind == "nodes" and "scale" in tasks:
            bar.update(
                tasks["scale"],
                total=info["want"],
                completed=info["up"],
                description=f"scale: {info.get('unit', 'nodes')} up",
            )
        elif kind == "rows" and "predict" in tasks:
            bar.update(
                tasks["predict"],
                total=info["total"],
                completed=info["done"],
                description=rows_line(info["done"], info["total"], time.monotonic() - started["predict"]),
            )

    with bar:
        yield on_event


def rows_line(done: int, total: int | None, seconds: float) -> str:
    """'predict 1.2M rows/s, ETA 0:08' from rows done so far and the phase's elapsed time."""
    rate = done / seconds if seconds > 0 else 0.0
    line = f"predict {_si(rate)} rows/s"
    if total and rate > 0 and done < total:
        left = int((total - done) / rate)
        line += f", ETA {left // 60}:{left % 60:02d}"
    return line


def _si(value: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.1f}{unit}"
    return f"{value:.0f}"


def print_table(table: Any, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Table(title=title)
    for col in table.columns:
        out.add_column(str(col))
    for _, row in table.iterrows():
        out.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row])
    Console(width=160).print(out)


def summary(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(force_terminal=False if not sys.stdout.isatty() else None, width=110)
    table = Table(title=f"mlscale run {result.recipe.name} ({result.cluster.engine})", show_header=True)
    table.add_column("what")
    table.add_column("value", overflow="fold")
    for key, value in result.metrics.items():
        if key.startswith("test_") or (
            key.startswith("valid_") and not any(k.startswith("test_") for k in result.metrics)
        ):
            table.add_row(key, f"{value:.5f}")
    for key, value in result.timings.items():
        table.add_row(key, f"{value:.2f}")
    table.add_row("mlflow run", f"{result.run_id} ({result.experiment})")
    table.add_row("tracking", mask(result.tracking_uri))
    if result.run_url:
        local = not result.tracking_uri.startswith(("http://", "https://"))
        hint = f"  (after: mlflow ui --backend-store-uri {mask(result.tracking_uri)})" if local else ""
        table.add_row("view", f"{result.run_url}{hint}")
    if result.reference is not None:
        ref = result.reference
        scores = ", ".join(f"{k} {v:.5f}" for k, v in ref.metrics.items())
        table.add_row("reference", f"{ref.model} on {ref.rows:,} train rows: {ref.split} {scores}")
    if result.output_path is not None:
        table.add_row("output", str(result.output_path))
    if result.plots:
        table.add_row("plots", str(result.plots[0].parent))
    elif result.recipe.predict is None and result.recipe.evaluate.plots:
        table.add_row("plots", "in the mlflow run (plots/)")
    if result.report is not None:
        table.add_row("report", str(result.report))
    console.print(table)
    if result.quality_warning:
        click.echo(f"warning: {result.quality_warning}")
    if result.promotion is not None:
        click.echo(f"promotion: {result.promotion.summary}")


def print_plan(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    recipe, data = result.recipe, result.data
    size = f"{data['bytes'] / 1e6:.1f} MB"
    rows = f"{data['rows']:,} rows" if data.get("rows") is not None else "rows unknown until read"
    cols = f" x {data['columns']} columns" if data.get("columns") is not None else ""
    files = f" in {data['files']} file(s)" if data.get("files") else ""
    table = Table(title=f"mlscale plan {recipe.name} (engine {recipe.engine.name})")
    table.add_column("phase")
    table.add_column("what runs where", overflow="fold")
    table.add_row("data", f"{recipe.data.source}: {rows}{cols}, {size}{files}")
    for phase, what in result.engine.steps:
        table.add_row(phase, mask_text(what))
    table.add_row("mlflow", mask(result.tracking_uri))
    from mlscale.recipe.trust import describe_reach

    for line in describe_reach(recipe):
        table.add_row("reaches", mask(line))
    Console(force_terminal=False if not sys.stdout.isatty() else None, width=110).print(table)
    for note in result.engine.notes:
        click.echo(f"note: {mask_text(note)}")
    click.echo("ok: the plan fits")


def mask(uri: str) -> str:
    """A URI or address as it may be shown: credentials as ***."""
    return mask_text(uri)
