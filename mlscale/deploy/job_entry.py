"""Running inside a Ray Job: keep working when Ray deletes the job's working_dir under the driver.

Ray can delete a job's working_dir while its driver still runs (ray-project/ray#52343): measured
here, both `mlscale submit` and `ray job submit --working-dir . -- mlscale run recipe.yaml` failed
with FileNotFoundError from os.getcwd(). `mlscale run` therefore copies such a working dir to a
directory of its own first, and `mlscale submit` also runs from a private copy of this package.

Neither copy outlives the job: the package copy is removed when the run's process ends (and a copy
left by a killed job is removed by the next job on that host), and the working-dir copy keeps only
what the run wrote there (relative outputs), or is removed when the run wrote nothing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

RAY_WORKING_DIR_MARK = f"{os.sep}runtime_resources{os.sep}working_dir_files{os.sep}"
LIB_PREFIX = "mlscale-lib-"


@dataclass(frozen=True)
class WorkingCopy:
    """A private copy of a Ray Job's working dir and the files it was made with (size, mtime)."""

    home: Path
    originals: dict[str, tuple[int, int]]

    def prune(self) -> list[str]:
        """Remove the copied inputs the run left unchanged; returns what the run wrote (relative paths).

        The copy is removed entirely when the run wrote nothing into it."""
        for rel, stamp in self.originals.items():
            path = self.home / rel
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue
            if (st.st_size, st.st_mtime_ns) == stamp:
                path.unlink()
        for folder in sorted((p for p in self.home.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            if not any(folder.iterdir()):
                folder.rmdir()
        kept = sorted(str(p.relative_to(self.home)) for p in self.home.rglob("*") if not p.is_dir())
        if not kept:
            shutil.rmtree(self.home.parent, ignore_errors=True)
        return kept


def detach_from_ray_working_dir() -> WorkingCopy | None:
    """If the cwd is a Ray Job's working_dir, continue in a private copy; returns the copy."""
    try:
        cwd = Path.cwd()
    except FileNotFoundError:
        return None
    if RAY_WORKING_DIR_MARK not in f"{cwd}{os.sep}":
        return None
    home = Path(tempfile.mkdtemp(prefix="mlscale-job-")) / "work"
    shutil.copytree(cwd, home, symlinks=True)
    originals = {
        str(p.relative_to(home)): (p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in home.rglob("*")
        if not p.is_dir() or p.is_symlink()
    }
    os.chdir(home)
    print(f"mlscale: Ray Job working dir copied to {home} (relative outputs land here)", flush=True)
    return WorkingCopy(home, originals)


def finish_working_copy(copy: WorkingCopy | None) -> None:
    """At the end of a run in a Ray Job: drop the copied inputs, say where the outputs stay."""
    if copy is None:
        return
    os.chdir(copy.home.parent.parent)  # leave the copy before pruning it
    kept = copy.prune()
    if kept:
        print(f"mlscale: this job's relative outputs stay in {copy.home}: {', '.join(kept[:5])}", flush=True)


def _sweep_stale_libs(tmp: Path) -> None:
    """Remove package copies whose job process on this host is gone (killed with SIGKILL)."""
    from mlscale.util.written import left_by_a_dead_writer

    for path in tmp.glob(f"{LIB_PREFIX}*"):
        owner = path.name[len(LIB_PREFIX) :].rpartition(".")[0]  # '<host>-<pid>'
        if owner and left_by_a_dead_writer(owner):
            shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str]) -> int:
    """`python -m mlscale.deploy.job_entry run recipe.yaml`: the entrypoint `mlscale submit` gives its jobs.

    Runs `mlscale` from a private copy of this package (Ray may delete the job's py_modules copy under
    a running driver) in a child process, forwards SIGTERM/SIGINT to it, removes the copy when it
    ends and exits with its code."""
    tmp = Path(tempfile.gettempdir())
    _sweep_stale_libs(tmp)
    lib = Path(tempfile.mkdtemp(prefix=f"{LIB_PREFIX}{socket.gethostname()}-{os.getpid()}."))
    try:
        shutil.copytree(
            Path(__file__).resolve().parents[1], lib / "mlscale", ignore=shutil.ignore_patterns("__pycache__")
        )
        path = os.pathsep.join(p for p in (str(lib), os.environ.get("PYTHONPATH", "")) if p)
        child = subprocess.Popen(
            [sys.executable, "-m", "mlscale.cli", *argv], env={**os.environ, "PYTHONPATH": path}
        )

        def forward(signum: int, _frame: FrameType | None) -> None:
            child.send_signal(signum)

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, forward)
        code = child.wait()
    finally:
        shutil.rmtree(lib, ignore_errors=True)
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
