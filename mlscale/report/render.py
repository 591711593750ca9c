"""ReportData -> one self-contained HTML file (Jinja2, images as data: URIs, no script, no network)."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any

from mlscale.report.page import ReportData

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
    """Render and write atomically (temp file in the same directory, then rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    html = render(page)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(html)
        os.chmod(tmp, 0o666 & ~_umask())  # as open() would create it (mkstemp makes it 0600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
