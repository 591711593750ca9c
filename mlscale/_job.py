"""Running inside a Ray Job: keep working when Ray deletes the job's working_dir under the driver.

Ray can delete a job's working_dir while its driver still runs (ray-project/ray#52343): measured
here, both `mlscale submit` and `ray job submit --working-dir . -- mlscale run recipe.yaml` failed
with FileNotFoundError from os.getcwd(). `mlscale run` therefore copies such a working dir to a
directory of its own first, and `mlscale submit` also runs from a private copy of this package.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

RAY_WORKING_DIR_MARK = f"{os.sep}runtime_resources{os.sep}working_dir_files{os.sep}"


def detach_from_ray_working_dir() -> Path | None:
    """If the cwd is a Ray Job's working_dir, continue in a private copy; returns the copy."""
    try:
        cwd = Path.cwd()
    except FileNotFoundError:
        return None
    if RAY_WORKING_DIR_MARK not in f"{cwd}{os.sep}":
        return None
    home = Path(tempfile.mkdtemp(prefix="mlscale-job-")) / "work"
    shutil.copytree(cwd, home)
    os.chdir(home)
    print(f"mlscale: Ray Job working dir copied to {home} (relative outputs land here)", flush=True)
    return home


def main(argv: list[str]) -> None:
    """`python -m mlscale._job run recipe.yaml`: the entrypoint `mlscale submit` gives its jobs."""
    lib = Path(tempfile.mkdtemp(prefix="mlscale-lib-"))
    shutil.copytree(
        Path(__file__).resolve().parent, lib / "mlscale", ignore=shutil.ignore_patterns("__pycache__")
    )
    path = os.pathsep.join(p for p in (str(lib), os.environ.get("PYTHONPATH", "")) if p)
    os.execve(
        sys.executable, [sys.executable, "-m", "mlscale.cli", *argv], {**os.environ, "PYTHONPATH": path}
    )


if __name__ == "__main__":
    main(sys.argv[1:])
