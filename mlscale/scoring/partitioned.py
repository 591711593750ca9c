"""Partitioned prediction output: a directory of part files that appears, or is replaced, as a whole.

Writers (the driver, or each cluster worker) put their part files in a temporary sibling directory
(`.<name>.tmp-<host>-<pid>.<random>`, mode 0700, see `mlscale.util.written`); the driver writes `_manifest.json` last (every part, its rows and its
source) and renames the directory into place. A reader that finds a manifest finds every part it
names; a crash leaves only the temporary directory, which the next run removes; a rerun replaces the
previous result. Part files keep the order of their input file, so `part-00003` holds the predictions
for the fourth input file, in its row order.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from mlscale.errors import DataError
from mlscale.scoring.manifest import MANIFEST, PartSummary, manifest_record, read_manifest
from mlscale.util.written import new_temp_dir, publish, remove_dead_writers_temps


def _dictionary(table: Any) -> list[str]:
    """The columns worth dictionary-encoding in parquet: text (labels, ids). Numbers are written plain:
    a probability or a row id has about as many values as rows, so a dictionary only costs time (it was
    a third of the CPU of writing predictions)."""
    import pyarrow as pa

    text = (pa.types.is_string, pa.types.is_large_string, pa.types.is_dictionary, pa.types.is_binary)
    return [f.name for f in table.schema if any(check(f.type) for check in text)]


def part_name(index: int, fmt: str) -> str:
    return f"part-{index:05d}.{fmt}"


def is_dataset(path: str | Path) -> bool:
    """An existing directory written by this module (so a rerun may replace it)."""
    return (Path(path) / MANIFEST).is_file()


class TableSink:
    """Append pandas frames to one parquet or csv file (no rename: the caller decides when it counts):
    `path`, or the open binary `file` given for it (which the caller closes)."""

    def __init__(self, path: str | Path, fmt: str, *, file: Any = None) -> None:
        self.path = Path(path)
        self.fmt = fmt
        self._file = file
        self._writer: Any = None
        self.schema: Any = None
        self.rows = 0

    def write(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa

        self.write_table(pa.Table.from_pandas(frame, preserve_index=False))

    def write_table(self, table: Any) -> None:
        """Append a pyarrow Table (cast to the first one's schema)."""
        if self._writer is None:
            self.schema = table.schema
            where = str(self.path) if self._file is None else self._file
            if self.fmt == "parquet":
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(where, self.schema, use_dictionary=_dictionary(table))
            else:
                import pyarrow.csv as pacsv

                self._writer = pacsv.CSVWriter(where, self.schema)
        elif table.schema != self.schema:
            table = table.cast(self.schema)
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        elif self._file is None and not self.path.exists():
            self.path.write_bytes(b"")  # no rows at all: still a file

    @property
    def columns(self) -> list[str]:
        return [] if self.schema is None else [f.name for f in self.schema]


def write_part(
    frames: Iterable[pd.DataFrame], directory: str | Path, index: int, fmt: str, *, source: str | None = None
) -> PartSummary:
    """Write already-predicted frames as one part file of a (temporary) output directory."""
    sink = TableSink(Path(directory) / part_name(index, fmt), fmt)
    try:
        for frame in frames:
            sink.write(frame)
    finally:
        sink.close()
    return PartSummary(file=sink.path.name, rows=sink.rows, source=source, columns=sink.columns)


class PartitionedOutput:
    """The temporary directory parts go to, committed into place by `commit` (use as a context manager:
    an exception removes the temporary directory and leaves any previous result as it was)."""

    def __init__(self, path: str | Path, fmt: str, *, meta: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.fmt = fmt
        self.meta = dict(meta or {})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_dead_writers_temps(self.path)  # a crashed run's parts
        self.tmp = new_temp_dir(self.path)

    def commit(self, parts: list[PartSummary]) -> None:
        """Write the manifest last, then swap the directory into place (replacing an earlier result)."""
        manifest = manifest_record(self.fmt, parts, **self.meta)
        missing = [p.file for p in parts if not (self.tmp / p.file).is_file()]
        if missing:
            raise DataError(f"predict.output: part {missing[0]} was reported but is not in {self.tmp}")
        (self.tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
        old = None
        if self.path.exists():
            old = new_temp_dir(self.path)  # an empty directory a rename may replace
            os.replace(self.path, old)
        publish(self.tmp, self.path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def __enter__(self) -> PartitionedOutput:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)


__all__ = [
    "MANIFEST",
    "PartSummary",
    "PartitionedOutput",
    "TableSink",
    "is_dataset",
    "part_name",
    "read_manifest",
    "write_part",
]
