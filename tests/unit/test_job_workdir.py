"""Inside a Ray Job, `mlscale run` moves off the job's working_dir (Ray may delete it mid-run)."""

from __future__ import annotations

import os

from mlscale.deploy.job_entry import detach_from_ray_working_dir


def test_detaches_from_a_ray_working_dir(tmp_path, monkeypatch):
    job_dir = tmp_path / "session" / "runtime_resources" / "working_dir_files" / "_ray_pkg_1"
    job_dir.mkdir(parents=True)
    (job_dir / "recipe.yaml").write_text("name: x\n")
    monkeypatch.chdir(job_dir)
    copy = detach_from_ray_working_dir()
    assert copy is not None and copy.home != job_dir
    assert os.getcwd() == str(copy.home)
    assert (copy.home / "recipe.yaml").read_text() == "name: x\n"


def test_leaves_any_other_directory_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert detach_from_ray_working_dir() is None
    assert os.getcwd() == str(tmp_path)


def test_the_working_copy_keeps_only_what_the_run_wrote(tmp_path, monkeypatch):
    from mlscale.deploy.job_entry import finish_working_copy

    job_dir = tmp_path / "session" / "runtime_resources" / "working_dir_files" / "_ray_pkg_2"
    (job_dir / "data").mkdir(parents=True)
    (job_dir / "recipe.yaml").write_text("name: x\n")
    (job_dir / "data" / "big.csv").write_text("a\n1\n")
    monkeypatch.chdir(job_dir)
    copy = detach_from_ray_working_dir()
    assert copy is not None
    (copy.home / "output").mkdir()
    (copy.home / "output" / "predictions.parquet").write_bytes(b"x")
    (copy.home / "recipe.yaml").write_text("name: changed\n")  # changed by the run: kept
    finish_working_copy(copy)
    left = sorted(str(p.relative_to(copy.home)) for p in copy.home.rglob("*"))
    assert left == ["output", "output/predictions.parquet", "recipe.yaml"]


def test_the_working_copy_is_removed_when_the_run_wrote_nothing(tmp_path, monkeypatch):
    from mlscale.deploy.job_entry import finish_working_copy

    job_dir = tmp_path / "runtime_resources" / "working_dir_files" / "_ray_pkg_3"
    job_dir.mkdir(parents=True)
    (job_dir / "recipe.yaml").write_text("name: x\n")
    monkeypatch.chdir(job_dir)
    copy = detach_from_ray_working_dir()
    assert copy is not None
    finish_working_copy(copy)
    assert not copy.home.parent.exists()


def test_the_job_entrypoint_passes_the_exit_code_and_removes_its_package_copy(tmp_path):
    """`python -m mlscale.deploy.job_entry ...` (what `mlscale submit` runs) leaves no mlscale-lib-* behind."""
    import subprocess
    import sys

    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: t\ndata: {source: sklearn, dataset: iris}\ntrain: {eta: fast}\n")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    done = subprocess.run(
        [sys.executable, "-m", "mlscale.deploy.job_entry", "validate", str(recipe)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2, done.stderr
    assert "train.eta" in done.stderr
    assert list(tmp.iterdir()) == []


def test_a_package_copy_left_by_a_killed_job_is_swept(tmp_path, monkeypatch):
    import socket
    import subprocess
    import sys

    from mlscale.deploy import job_entry as _job

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = tmp_path / f"mlscale-lib-{socket.gethostname()}-{gone.pid}.abc123"
    live = tmp_path / f"mlscale-lib-{socket.gethostname()}-{os.getppid()}.def456"
    other_host = tmp_path / f"mlscale-lib-elsewhere-{gone.pid}.ghi789"
    for d in (stale, live, other_host):
        (d / "mlscale").mkdir(parents=True)
    _job._sweep_stale_libs(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other_host.name])


def test_sigterm_reaches_the_run_and_the_package_copy_is_removed(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    child_code = (
        "import time, signal, sys; signal.signal(signal.SIGTERM, lambda *a: sys.exit(143)); time.sleep(60)"
    )
    script = (
        "import sys, subprocess\n"
        "from mlscale.deploy import job_entry as _job\n"
        "popen = subprocess.Popen\n"
        "_job.subprocess.Popen = lambda argv, env: popen([sys.executable, '-c', "
        f"{child_code!r}], env=env)\n"
        "sys.exit(_job.main(['run', 'x.yaml']))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "TMPDIR": str(tmp)})
    deadline = time.time() + 30
    copy = "mlscale-lib-*/mlscale/cli/__init__.py"
    while not any(tmp.glob(copy)) and time.time() < deadline:
        time.sleep(0.1)
    assert any(tmp.glob(copy)), "the package copy never appeared"
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 143
    assert list(tmp.iterdir()) == []
