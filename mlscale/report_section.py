"""One section of a run's report: what a run logs under `report/<section>/section.json` beside its PNGs.

The shape (read by the HTML report, which is built from the run's artifacts alone):
`{"title": str, "order": int, "notes": [str], "tables": [{"title", "columns": [str], "rows": [[scalar]]}],
"images": [{"file": "name.png", "caption": str}]}`. Numbers are plain ints and floats, never NaN or
infinite (null instead); anything else is written as text.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

SECTION_FILE = "section.json"


@dataclass(frozen=True, kw_only=True)
class SectionTable:
    title: str
    columns: list[str]
    rows: list[list[Any]]


@dataclass(frozen=True, kw_only=True)
class SectionImage:
    file: str  # a PNG in the same directory as section.json
    caption: str


@dataclass(frozen=True, kw_only=True)
class ReportSection:
    title: str
    order: int
    notes: list[str] = field(default_factory=list)
    tables: list[SectionTable] = field(default_factory=list)
    images: list[SectionImage] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "order": int(self.order),
            "notes": [str(n) for n in self.notes],
            "tables": [
                {
                    "title": t.title,
                    "columns": [str(c) for c in t.columns],
                    "rows": [[scalar(v) for v in row] for row in t.rows],
                }
                for t in self.tables
            ],
            "images": [{"file": i.file, "caption": i.caption} for i in self.images],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=False)


def scalar(value: Any) -> Any:
    """A JSON scalar: numpy numbers as plain int/float, NaN and infinities as None, other objects as text."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if hasattr(value, "item") and not isinstance(value, (list, tuple, dict)):
        value = value.item()  # numpy scalars
        if isinstance(value, (bool, str)) or value is None:
            return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)
