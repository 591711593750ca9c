"""The manifest of a prediction output: one record for both shapes, written last.

A partitioned output holds it as `_manifest.json` inside its directory; a one-file output has it beside the
file as `<name>.manifest.json` (`mlscale.util.written.manifest_of`). Either way it says the format, the
rows and columns, and each file with its rows (and, for parts, the input file it came from and the unseen
categories counted there), so a reader checks any output the same way and a rerun knows the output is
mlscale's to replace.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlscale.util.written import manifest_of

MANIFEST = "_manifest.json"
"""The manifest's name inside a partitioned output."""


@dataclass(frozen=True)
class PartSummary:
    """What one output file holds; small enough to come back from a cluster worker."""

    file: str  # name inside the output directory (a one-file output: its own name)
    rows: int
    source: str | None = None  # the input file it was predicted from
    unseen: dict[str, int] = field(default_factory=dict)  # unseen category counts per column
    columns: list[str] = field(default_factory=list)


def manifest_record(fmt: str, parts: Sequence[PartSummary], **meta: Any) -> dict[str, Any]:
    """The manifest of an output made of `parts` (one for a one-file output), in file order."""
    return {
        "format": fmt,
        "rows": sum(p.rows for p in parts),
        "columns": next((p.columns for p in parts if p.columns), []),
        "files": [{k: v for k, v in asdict(p).items() if k != "columns"} for p in parts],
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **meta,
    }


def manifest_path(output: str | Path) -> Path:
    """Where the manifest of `output` is: inside a partitioned output, beside a one-file output."""
    path = Path(output)
    return path / MANIFEST if path.is_dir() else manifest_of(path)


def read_manifest(output: str | Path) -> dict[str, Any]:
    """The manifest of a prediction output (a partitioned directory or one file)."""
    return dict(json.loads(manifest_path(output).read_text()))
