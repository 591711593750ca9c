"""`mlscale init` reads only a sample: csv, the first rows; parquet, the row groups holding the first rows."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pandas as pd

from mlscale.data import CSV_SUFFIXES, PARQUET_SUFFIXES, read_file, resolve_files
from mlscale.errors import DataError
from mlscale.util.text import first_line


@dataclass
class Sample:
    path: str  # as given by the user
    source: str  # csv | parquet
    files: list[str]
    frame: pd.DataFrame
    complete: bool  # the frame holds every row of the data
    total_rows: int | None  # when known without reading everything (parquet metadata)

    def rows(self, preposition: str) -> str:
        """'in all 300 rows' / 'from the first 10,000 rows': which rows a finding rests on."""
        n = len(self.frame)
        return f"{preposition} all {n:,} rows" if self.complete else f"{preposition} the first {n:,} rows"


def read_sample(path: str, n: int) -> Sample:
    files = resolve_files(path, where="--data")
    formats = {_format_of(f) for f in files}
    if len(formats) > 1:
        raise DataError(f"{path}: mixes csv and parquet files; point --data at one format")
    fmt = formats.pop()
    first = files[0]
    if os.path.getsize(first) == 0:
        raise DataError(f"--data: {first} is empty")
    total: int | None = None
    if fmt == "csv":
        frame = read_file(first, "csv", "--data", nrows=n)
        complete = len(files) == 1 and len(frame) < n
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(first)
            total = pf.metadata.num_rows
            batch = next(pf.iter_batches(batch_size=n), None)  # reads only the row groups holding these rows
            table = pa.Table.from_batches([batch]) if batch is not None else pf.schema_arrow.empty_table()
            frame = table.to_pandas()
        except PermissionError as exc:
            raise DataError(f"{first}: not readable (permission denied)") from exc
        except Exception as exc:  # arrow raises several types for broken files
            raise DataError(f"{first}: cannot read as parquet ({first_line(exc)})") from exc
        complete = len(files) == 1 and len(frame) == total
        if len(files) > 1:
            total = None
    if len(frame) == 0:
        raise DataError(f"{first}: has no rows")
    frame.columns = [str(c) for c in frame.columns]
    return Sample(path=path, source=fmt, files=files, frame=frame, complete=complete, total_rows=total)


def _format_of(file: str) -> str:
    lower = file.lower()
    if lower.endswith(CSV_SUFFIXES):
        return "csv"
    if lower.endswith(PARQUET_SUFFIXES):
        return "parquet"
    try:
        with open(file, "rb") as fh:
            if fh.read(4) == b"PAR1":
                return "parquet"
    except OSError:
        pass
    raise DataError(f"{file}: cannot tell the format from the name; expected a .csv or .parquet file")
