"""What a report page shows, typed: the one shape every page is rendered from (a run, compare, bench)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

from mlscale.report.section import ReportTable


@dataclass(frozen=True, kw_only=True)
class PageImage:
    data_uri: str  # data:image/png;base64,...: the page needs no file and no network
    caption: str = ""

    @classmethod
    def from_bytes(cls, data: bytes, *, caption: str = "", file: str = "x.png") -> PageImage:
        mime = {"svg": "image/svg+xml", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif"}
        kind = mime.get(file.rsplit(".", 1)[-1].lower(), "image/png")
        return cls(data_uri=f"data:{kind};base64,{base64.b64encode(data).decode()}", caption=caption)

    @classmethod
    def from_file(cls, path: Path, *, caption: str = "") -> PageImage:
        return cls.from_bytes(path.read_bytes(), caption=caption, file=path.name)


@dataclass(frozen=True, kw_only=True)
class PageSection:
    key: str  # the HTML id: section-<key>
    title: str
    order: int
    notes: list[str] = field(default_factory=list)
    tables: list[ReportTable] = field(default_factory=list)
    images: list[PageImage] = field(default_factory=list)
    code: str | None = None  # preformatted text (the recipe), folded under code_title
    code_title: str = ""


@dataclass(frozen=True, kw_only=True)
class ReportData:
    title: str
    facts: list[tuple[str, str]]  # the header's key facts: run, engine, status, ...
    sections: list[PageSection]
    link: str | None = None  # the MLflow run page
    notes: list[str] = field(default_factory=list)  # warnings shown under the header

    def ordered(self) -> list[PageSection]:
        return sorted(self.sections, key=lambda s: (s.order, s.title))
