"""What a report page shows, typed: the one shape every page is rendered from (a run, compare, bench)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlscale.report.section import ReportSection


@dataclass(frozen=True, kw_only=True)
class ReportData:
    title: str
    facts: list[tuple[str, str]]  # the header's key facts: run, engine, status, ...
    sections: list[ReportSection]
    link: str | None = None  # the MLflow run page
    notes: list[str] = field(default_factory=list)  # warnings shown under the header

    def ordered(self) -> list[ReportSection]:
        return sorted(self.sections, key=lambda s: (s.order, s.title))
