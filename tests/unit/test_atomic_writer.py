"""AtomicTableWriter with two writers to one output: a live writer's temp file is never removed by the
other; temp files of writers that died (a killed run) are removed by the next one."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from mlscale.predicting import AtomicTableWriter

HOST = socket.gethostname()


@pytest.fixture
def live_pid() -> Iterator[int]:
    """A process that stays alive for the test (another writer, as far as the file system shows)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


@pytest.fixture
def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _write(out: Path) -> None:
    with AtomicTableWriter(out, "parquet") as writer:
        writer.write(pd.DataFrame({"prediction": [1, 0]}))


def test_a_live_writers_temp_file_is_kept(tmp_path: Path, live_pid: int) -> None:
    out = tmp_path / "p.parquet"
    theirs = [tmp_path / f".p.parquet.tmp-{HOST}-{live_pid}", tmp_path / f".p.parquet.tmp-{live_pid}"]
    for f in theirs:
        f.write_bytes(b"half written by another process")
    _write(out)
    assert len(pd.read_parquet(out)) == 2
    assert all(f.read_bytes() == b"half written by another process" for f in theirs)


def test_a_dead_writers_temp_file_is_removed(tmp_path: Path, dead_pid: int) -> None:
    out = tmp_path / "p.parquet"
    stale = [tmp_path / f".p.parquet.tmp-{HOST}-{dead_pid}", tmp_path / f".p.parquet.tmp-{dead_pid}"]
    for f in stale:
        f.write_bytes(b"left by a killed run")
    _write(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.parquet", "p.parquet.manifest.json"]


def test_another_hosts_temp_file_is_kept(tmp_path: Path, dead_pid: int) -> None:
    """On shared storage a PID says nothing about a process on another machine."""
    out = tmp_path / "p.parquet"
    theirs = tmp_path / f".p.parquet.tmp-other-host.example-{dead_pid}"
    theirs.write_bytes(b"another machine's writer")
    _write(out)
    assert theirs.exists()


def test_the_temp_file_names_this_host_and_process(tmp_path: Path) -> None:
    import os

    writer = AtomicTableWriter(tmp_path / "p.parquet", "parquet")
    assert writer.tmp.name == f".p.parquet.tmp-{HOST}-{os.getpid()}"
