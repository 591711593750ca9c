"""Inside a Ray Job, `mlscale run` moves off the job's working_dir (Ray may delete it mid-run)."""

from __future__ import annotations

import os

from mlscale._job import detach_from_ray_working_dir


def test_detaches_from_a_ray_working_dir(tmp_path, monkeypatch):
    job_dir = tmp_path / "session" / "runtime_resources" / "working_dir_files" / "_ray_pkg_1"
    job_dir.mkdir(parents=True)
    (job_dir / "recipe.yaml").write_text("name: x\n")
    monkeypatch.chdir(job_dir)
    copy = detach_from_ray_working_dir()
    assert copy is not None and copy != job_dir
    assert os.getcwd() == str(copy)
    assert (copy / "recipe.yaml").read_text() == "name: x\n"


def test_leaves_any_other_directory_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert detach_from_ray_working_dir() is None
    assert os.getcwd() == str(tmp_path)
