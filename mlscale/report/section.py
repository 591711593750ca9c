"""One section of a run's report page, as logged under the run's `report/<section>/section.json`.

The contract any phase (or another tool) uses to add to `report.html` without the report's code:
`{"title": str, "order": int, "notes": [str], "tables": [{"title", "columns", "rows"}],
"images": [{"file": "x.png", "caption": str}]}`, image files beside section.json. Sections are shown in
`order`: recipe 10, data 20, metrics 30, evaluation 40, explanations 50, tuning 60, timings 70,
versions 80.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlscale.errors import ReportError

SECTION_FILE = "section.json"
Scalar = str | int | float | bool | None


@dataclass(frozen=True, kw_only=True)
class ReportTable:
    title: str
    columns: list[str]
    rows: list[list[Scalar]]


@dataclass(frozen=True, kw_only=True)
class ReportImage:
    """An image of a section: logged as a file beside section.json (`file`), shown on the page inline
    (`data_uri`: data:image/png;base64,..., so the page needs no file and no network)."""

    file: str = ""  # a file name beside section.json
    caption: str = ""
    data_uri: str = ""

    @classmethod
    def from_bytes(cls, data: bytes, *, caption: str = "", file: str = "x.png") -> ReportImage:
        mime = {"svg": "image/svg+xml", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif"}
        kind = mime.get(file.rsplit(".", 1)[-1].lower(), "image/png")
        uri = f"data:{kind};base64,{base64.b64encode(data).decode()}"
        return cls(file=file, data_uri=uri, caption=caption)

    @classmethod
    def from_file(cls, path: Path, *, caption: str = "") -> ReportImage:
        return cls.from_bytes(path.read_bytes(), caption=caption, file=path.name)


@dataclass(frozen=True, kw_only=True)
class ReportSection:
    """One section of a report: logged as section.json by a phase (title, order, notes, tables, images by
    file), and shown on a page (`key` its HTML id, images inline, `code` folded under `code_title`)."""

    title: str
    order: int
    notes: list[str] = field(default_factory=list)
    tables: list[ReportTable] = field(default_factory=list)
    images: list[ReportImage] = field(default_factory=list)
    key: str = ""  # the HTML id on a page: section-<key>
    code: str | None = None  # preformatted text (the recipe), folded under code_title
    code_title: str = ""

    def to_json(self) -> str:
        return json.dumps(
            {
                "title": self.title,
                "order": self.order,
                "notes": list(self.notes),
                "tables": [
                    {
                        "title": t.title,
                        "columns": list(t.columns),
                        "rows": [[scalar(v) for v in r] for r in t.rows],
                    }
                    for t in self.tables
                ],
                "images": [{"file": i.file, "caption": i.caption} for i in self.images],
            },
            indent=1,
            allow_nan=False,
        )

    @classmethod
    def from_json(cls, text: str, *, where: str = SECTION_FILE) -> ReportSection:
        """Parse one section.json; a malformed one raises ReportError naming `where` and the field."""
        try:
            raw = json.loads(text)
            if not isinstance(raw, dict):
                raise ValueError("expected an object")
            return cls(
                title=str(raw["title"]),
                order=int(raw.get("order", 100)),
                notes=[str(n) for n in raw.get("notes", [])],
                tables=[
                    ReportTable(
                        title=str(t.get("title", "")),
                        columns=[str(c) for c in t["columns"]],
                        rows=[[scalar(v) for v in row] for row in t["rows"]],
                    )
                    for t in raw.get("tables", [])
                ],
                images=[
                    ReportImage(file=_plain_name(str(i["file"])), caption=str(i.get("caption", "")))
                    for i in raw.get("images", [])
                ],
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ReportError(f"{where}: not a report section ({type(exc).__name__}: {exc})") from None


def scalar(value: Any) -> Scalar:
    """A JSON scalar: numpy numbers become Python ones, NaN/inf become None, anything else its text."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)) or hasattr(value, "item"):
        number = value.item() if hasattr(value, "item") else value
        if isinstance(number, float) and not math.isfinite(number):
            return None
        return number if isinstance(number, (int, float, bool)) else str(number)
    return str(value)


def _plain_name(name: str) -> str:
    """An image file must lie beside section.json: no directories, no '..'."""
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ValueError(f"image file {name!r} must be a plain file name beside section.json")
    return name
