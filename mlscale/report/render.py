"""ReportData -> one self-contained HTML file (Jinja2, images as data: URIs, no script, no network)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from mlscale.report.page import ReportData
from mlscale.util.written import atomic_file

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"  # the template's meta tag, verbatim


def render(page: ReportData) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("mlscale.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cell"] = cell
    return env.get_template("report.html.j2").render(page=page)


def cell(value: Any) -> str:
    """A table cell: floats to 5 significant digits, None as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return f"{value:.5g}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000:
        return f"{value:,}"
    return str(value)


def write_html(page: ReportData, path: str | Path) -> Path:
    """Render and write atomically (a 0600 temp file beside it, renamed with the mode open() would give)."""
    target = Path(path)
    html = render(page)
    with atomic_file(target, "w", encoding="utf-8") as f:
        f.write(html)
    return target
