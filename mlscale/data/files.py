"""Source files: which files a path names (file, directory, glob), their format, reading them whole or
one shard of their rows at a time (cluster workers read their own)."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mlscale.errors import DataError
from mlscale.util.text import first_line

CSV_SUFFIXES = (
    ".csv",
    ".csv.gz",
    ".csv.bz2",
    ".csv.zip",
    ".csv.xz",
    ".csv.zst",
)  # pandas and arrow decompress
PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class SourceFiles:
    """Where each train row of a file source lives, so cluster workers can read their own shard.

    Rows are numbered in file order (the order `load_table` concatenates them); a worker that reads
    the files overlapping its slice of `train_rows` and keeps exactly those rows gets the same shard,
    in the same order, as one cut from the driver's table.
    """

    paths: list[str]
    fmt: str
    offsets: list[int]  # global number of each file's first row
    rows: list[int]  # rows per file
    train_rows: np.ndarray  # global numbers of the train split's rows, ascending

    def shard(self, part: slice) -> tuple[np.ndarray, list[tuple[str, int]]]:
        """(global row numbers, [(file, its offset)] holding them) for one slice of the train rows."""
        wanted = self.train_rows[part]
        if not len(wanted):
            return wanted, []
        lo, hi = int(wanted[0]), int(wanted[-1])
        files = [
            (path, off)
            for path, off, n in zip(self.paths, self.offsets, self.rows, strict=True)
            if off <= hi and off + n > lo
        ]
        return wanted, files


def read_rows(path: str, fmt: str, offset: int, wanted: np.ndarray) -> pd.DataFrame:
    """The rows of one source file whose global numbers are in `wanted`, parsed as `load_table` does."""
    frame = pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
    local = wanted[(wanted >= offset) & (wanted < offset + len(frame))] - offset
    return frame.iloc[local].reset_index(drop=True)


def resolve_files(path: str, *, where: str) -> list[str]:
    """A file, a directory (its csv/parquet files) or a glob -> sorted list of files."""
    if any(ch in path for ch in "*?["):
        files = sorted(f for f in glob.glob(path) if os.path.isfile(f))
        if not files:
            raise DataError(f"{where}: no files match {path}")
        return files
    p = Path(path)
    if p.is_dir():
        files = sorted(
            str(f)
            for f in p.iterdir()
            if f.is_file() and f.name.lower().endswith((*CSV_SUFFIXES, *PARQUET_SUFFIXES))
        )
        if not files:
            raise DataError(f"{where}: directory {path} has no .csv or .parquet files")
        return files
    if not p.exists():
        raise DataError(f"{where}: {path} not found")
    return [str(p)]


def file_format(files: list[str], declared: str | None = None) -> str:
    if declared in ("csv", "parquet"):
        return declared
    return "csv" if files[0].lower().endswith(CSV_SUFFIXES) else "parquet"


def read_files(files: list[str], fmt: str, where: str) -> pd.DataFrame:
    return read_frames(files, fmt, where)[0]


def read_file(f: str, fmt: str, where: str, *, nrows: int | None = None) -> pd.DataFrame:
    """One csv / parquet file (csv: its first `nrows` rows when given), any failure as a one-line DataError."""
    try:
        if os.path.getsize(f) == 0:
            raise DataError(f"{where}: {f} is empty")
        return pd.read_csv(f, nrows=nrows) if fmt == "csv" else pd.read_parquet(f)
    except DataError:
        raise
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{where}: {f} is empty") from exc
    except pd.errors.ParserError as exc:
        detail = str(exc).strip().splitlines()[-1]
        raise DataError(f"{where}: {f} is not valid CSV ({detail})") from exc
    except PermissionError as exc:
        raise DataError(f"{where}: {f} is not readable (permission denied)") from exc
    except (OSError, ValueError) as exc:
        raise DataError(f"{where}: cannot read {f} as {fmt} ({first_line(exc)})") from exc


def read_frames(files: list[str], fmt: str, where: str) -> tuple[pd.DataFrame, list[int]]:
    """(the files as one table, rows per file)."""
    frames = []
    first_cols: list[str] | None = None
    for f in files:
        df = read_file(f, fmt, where)
        if first_cols is None:
            first_cols = list(df.columns)
        elif list(df.columns) != first_cols:
            diff = sorted(set(df.columns) ^ set(first_cols))
            raise DataError(
                f"{where}: {f} has different columns than {files[0]} (differing: {', '.join(diff) or 'order'})"
            )
        frames.append(df)
    table = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    if len(table) == 0:
        raise DataError(f"{where}: {files[0] + ' has' if len(files) == 1 else 'the files have'} no rows")
    return table, [len(f) for f in frames]
