"""AtomicTableWriter with two writers to one output: a live writer's temp file is never removed by the
other; temp files of writers that died (a killed run) are removed by the next one. The temp file is made
at once, exclusively, mode 0600, under a name no one can guess: a symlink planted there is not followed."""

from __future__ import annotations

import itertools
import os
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from mlscale.scoring.predict import AtomicTableWriter

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
    theirs = [
        tmp_path / f".p.parquet.tmp-{HOST}-{live_pid}.k2_x9abc",
        tmp_path / f".p.parquet.tmp-{HOST}-{live_pid}.12345678",  # the random part may be digits only
        tmp_path / f".p.parquet.tmp-{HOST}-{live_pid}",  # as older versions named them
        tmp_path / f".p.parquet.tmp-{live_pid}",
    ]
    for f in theirs:
        f.write_bytes(b"half written by another process")
    _write(out)
    assert len(pd.read_parquet(out)) == 2
    assert all(f.read_bytes() == b"half written by another process" for f in theirs)


def test_a_dead_writers_temp_file_is_removed(tmp_path: Path, dead_pid: int) -> None:
    out = tmp_path / "p.parquet"
    stale = [
        tmp_path / f".p.parquet.tmp-{HOST}-{dead_pid}.k2_x9abc",
        tmp_path / f".p.parquet.tmp-{HOST}-{dead_pid}",
        tmp_path / f".p.parquet.tmp-{dead_pid}",
    ]
    for f in stale:
        f.write_bytes(b"left by a killed run")
    _write(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.parquet", "p.parquet.manifest.json"]


def test_another_hosts_temp_file_is_kept(tmp_path: Path, dead_pid: int) -> None:
    """On shared storage a PID says nothing about a process on another machine."""
    out = tmp_path / "p.parquet"
    theirs = [
        tmp_path / f".p.parquet.tmp-other-host.example-{dead_pid}",
        tmp_path / f".p.parquet.tmp-other-host.example-{dead_pid}.k2_x9abc",
    ]
    for f in theirs:
        f.write_bytes(b"another machine's writer")
    _write(out)
    assert all(f.exists() for f in theirs)


def test_the_temp_file_names_this_host_and_process_and_a_random_part(tmp_path: Path) -> None:
    first = AtomicTableWriter(tmp_path / "p.parquet", "parquet")
    second = AtomicTableWriter(tmp_path / "p.parquet", "parquet")
    prefix = f".p.parquet.tmp-{HOST}-{os.getpid()}."
    assert first.tmp.name.startswith(prefix) and second.tmp.name.startswith(prefix)
    assert first.tmp != second.tmp
    with first, second:
        pass


def test_the_temp_file_exists_at_once_mode_0600_until_renamed(tmp_path: Path) -> None:
    out = tmp_path / "p.parquet"
    with AtomicTableWriter(out, "parquet") as writer:
        made = os.lstat(writer.tmp)  # made by the constructor: no moment where the name is free
        assert stat.S_ISREG(made.st_mode) and stat.S_IMODE(made.st_mode) == 0o600
        writer.write(pd.DataFrame({"prediction": [1, 0]}))
        assert stat.S_IMODE(os.lstat(writer.tmp).st_mode) == 0o600
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~mask  # as open() would have made it
    assert stat.S_IMODE(Path(f"{out}.manifest.json").stat().st_mode) == 0o666 & ~mask


def test_a_symlink_planted_at_the_temp_name_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = tmp_path / "authorized_keys"
    victim.write_text("ssh-ed25519 AAAA me@host\n")
    drawn = tempfile._get_candidate_names()
    names = itertools.chain(["planted", "free"], drawn)  # the names tempfile draws, made known to plant one
    monkeypatch.setattr(tempfile, "_get_candidate_names", lambda: names)
    own = f".p.parquet.tmp-{HOST}-{os.getpid()}"
    (tmp_path / f"{own}.planted").symlink_to(victim)
    out = tmp_path / "p.parquet"
    with AtomicTableWriter(out, "parquet") as writer:
        if not os.path.lexists(tmp_path / own):  # a name without a random part would be guessed
            (tmp_path / own).symlink_to(victim)
        writer.write(pd.DataFrame({"prediction": [1, 0]}))
    assert victim.read_text() == "ssh-ed25519 AAAA me@host\n"
    assert writer.tmp.name == f"{own}.free"
    assert len(pd.read_parquet(out)) == 2 and not out.is_symlink()


def test_a_saved_model_goes_through_a_drawn_temp_name_and_a_planted_link_is_left_alone(tmp_path):
    """Model.save (trial models, the resume state) renames a directory made by mkdtemp into place: a link
    planted at the old predictable name `.<name>.tmp-<pid>` is never followed."""
    import os

    import xgboost as xgb
    from sklearn.datasets import load_iris

    from mlscale.data.schema import FeatureSchema
    from mlscale.modeling.model import Model

    x, y = load_iris(return_X_y=True)
    booster = xgb.train({"objective": "multi:softprob", "num_class": 3}, xgb.DMatrix(x, y), 2)
    schema = FeatureSchema(
        target="y", task="multiclass", features=[f"f{i}" for i in range(4)], classes=[0, 1, 2]
    )
    victim = tmp_path / "victim"
    victim.mkdir()
    (tmp_path / f".trial_000.tmp-{os.getpid()}").symlink_to(victim, target_is_directory=True)
    saved = Model(booster, schema).save(tmp_path / "trial_000")
    assert Model.load(saved).schema.features == schema.features
    assert list(victim.iterdir()) == []
