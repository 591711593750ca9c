"""Files mlscale writes, and how it knows them again.

Every output goes to a temporary sibling first, `.<name>.tmp-<host>-<pid>.<random>`: created with
O_EXCL and O_NOFOLLOW (a file or symlink planted at that name is never opened), mode 0600 (a directory:
0700) until it is complete; it then gets the mode a plain open() would give it and is renamed into place.
A crash leaves only the temporary file, which the next writer on that host removes once its process is
gone (the host and pid in the name say whose it is).

What marks a file as mlscale's own (so a rerun may replace it): a one-file output has
`<name>.manifest.json` beside it, a partitioned output `_manifest.json` inside it, a plot the PNG text
chunk `Software: mlscale`, a report the page's `<meta name="generator" content="mlscale">`.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

PNG_SOFTWARE = "mlscale"
"""The PNG `Software` text chunk of the plots mlscale writes."""
HTML_GENERATOR = '<meta name="generator" content="mlscale">'
"""What the head of every report mlscale writes holds (report.html.j2)."""


def manifest_of(path: Path) -> Path:
    """The manifest beside a one-file output."""
    return path.parent / f"{path.name}.manifest.json"


def temp_prefix(target: Path) -> str:
    return f".{target.name}.tmp-"


def _own_prefix(target: Path) -> str:
    return f"{temp_prefix(target)}{socket.gethostname()}-{os.getpid()}."


def new_temp_file(target: Path) -> tuple[int, Path]:
    """A new, empty temporary file beside `target` (O_EXCL, O_NOFOLLOW, mode 0600): its fd and path."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=_own_prefix(target))
    return fd, Path(name)


def new_temp_dir(target: Path) -> Path:
    """A new, empty temporary directory beside `target` (mode 0700)."""
    return Path(tempfile.mkdtemp(dir=target.parent, prefix=_own_prefix(target)))


def remove_dead_writers_temps(target: Path) -> None:
    """Remove the temporary files and directories of `target` that a writer now gone left behind
    (a killed run's); a live writer's stay."""
    prefix = temp_prefix(target)
    for other in target.parent.glob(f"{prefix}*"):
        if not left_by_a_dead_writer(other.name.removeprefix(prefix)):
            continue
        if other.is_dir() and not other.is_symlink():
            shutil.rmtree(other, ignore_errors=True)
        else:
            other.unlink(missing_ok=True)


def left_by_a_dead_writer(suffix: str) -> bool:
    """Whether a temp file's writer, named by '<host>-<pid>.<random>' (or '<host>-<pid>', or '<pid>', as
    older versions named them), is gone: a process of this host that no longer exists. A PID says
    nothing about another machine's processes (shared storage), so their temp files stay."""
    owner, dot, random = suffix.rpartition(".")
    drawn = bool(dot) and "-" not in random  # the random part never holds '-'; a host name's last label may
    host, _, pid = (owner if drawn else suffix).rpartition("-")
    if not pid.isdigit() or host not in ("", socket.gethostname()):
        return False
    if int(pid) == os.getpid():
        return not drawn  # a drawn name is a live writer's of this process; an old one, a reused PID's
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. PermissionError: it exists, as another user's process
        return False
    return False


def creation_mode(target: Path, *, folder: bool = False) -> int:
    """The mode a plain open() (or mkdir) would give `target`, a new file (directory): the umask and any
    default ACL of its directory applied, learnt from a probe made and removed at once (the umask is never
    changed). The probe is named as `target`'s temp files are, so a crash's leftover is swept like them."""
    probe = target.parent / f"{_own_prefix(target)}{secrets.token_hex(8)}"
    if folder:
        os.mkdir(probe, 0o777)  # fails on anything already there, a symlink included
        try:
            return probe.stat(follow_symlinks=False).st_mode & 0o7777
        finally:
            probe.rmdir()
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    try:
        return os.fstat(fd).st_mode & 0o7777
    finally:
        os.close(fd)
        probe.unlink()


def publish(tmp: Path, target: Path, *, fd: int | None = None) -> None:
    """Give the finished temporary file (its open `fd`) or directory (no `fd`) the mode a plain open() or
    mkdir would have, then rename it into place (replacing a file, or the symlink itself, that is there)."""
    if fd is not None:
        os.fchmod(fd, creation_mode(target))
    else:  # a temporary directory: opened, never followed if something else were put at its name
        own = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            os.fchmod(own, creation_mode(target, folder=True))
        finally:
            os.close(own)
    os.replace(tmp, target)


@contextlib.contextmanager
def atomic_file(target: str | Path, mode: str = "wb", **kwargs: Any) -> Iterator[IO[Any]]:
    """A file object whose content appears under `target` only when the block ends without an error."""
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = new_temp_file(path)
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            publish(tmp, path, fd=f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def names_output(manifest: Path, name: str) -> bool:
    """Whether `manifest` is one mlscale wrote beside a one-file output called `name` (`files` names it;
    older manifests named it as `file`, or not at all: their format field is enough)."""
    try:
        with manifest.open("rb") as f:
            content = json.loads(f.read(1 << 20))
    except (OSError, ValueError):
        return False
    if not isinstance(content, dict) or "format" not in content:
        return False
    files = content.get("files")
    if isinstance(files, list) and len(files) == 1 and isinstance(files[0], dict):
        return files[0].get("file") == name
    return content.get("file", name) == name


def png_by_mlscale(path: Path) -> bool:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path, formats=["PNG"]) as image:
            return str(image.info.get("Software", "")).startswith(PNG_SOFTWARE)
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError):
        return False


def html_by_mlscale(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return HTML_GENERATOR.encode() in head
