"""SIGTERM handled like Ctrl-C while a CLI command runs.

`ray job stop`, Kubernetes and Slurm stop a process with SIGTERM, whose default ends Python at once: the
MLflow run stayed RUNNING, temp files stayed behind. While `mlscale.cli.main` runs, SIGTERM raises
`Terminated`, a KeyboardInterrupt, so every clean-up written for Ctrl-C runs for it too (the run marked
KILLED, temp files removed, the engine stopped); the CLI then exits 143 (128 + SIGTERM). Outside a CLI
command (a notebook calling `mlscale.run`) SIGTERM keeps whatever handler the process has.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises KeyboardInterrupt."""


class _Received:
    sigterm = False


_RECEIVED = _Received()


def _raise_terminated(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one is enough: a second must not cut the clean-up short
    _RECEIVED.sigterm = True
    raise Terminated()


def terminated(exc: BaseException | None) -> bool:
    """Whether an interrupt came from SIGTERM. Ray's C++ core turns any exception a signal handler raises
    while it waits (ray.get, ray.wait) into a plain KeyboardInterrupt (seen on a cluster: exit 130 for a
    SIGTERM), so the signal itself is remembered, not only the exception's type."""
    return isinstance(exc, Terminated) or _RECEIVED.sigterm


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises Terminated inside the block; the previous handler is back after it."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread sets handlers
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _raise_terminated)
    _RECEIVED.sigterm = False
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        _RECEIVED.sigterm = False


def raise_if_terminated() -> None:
    """Raise Terminated if a SIGTERM arrived while the CLI handles it as an interrupt. The handler raises
    where the signal lands, but Python ignores an exception raised in a weakref callback or a `__del__`
    (seen: a thread pool's weakref callback swallowed it and predict ran to the end, exit 0), and one
    SIGTERM is all the handler takes; a loop calls this once per step so that it still stops."""
    if _RECEIVED.sigterm:
        raise Terminated()


def sigterm_interrupts() -> bool:
    """Whether SIGTERM is handled as an interrupt right now (inside sigterm_as_interrupt)."""
    return signal.getsignal(signal.SIGTERM) is _raise_terminated


@contextmanager
def sigterm_handler_kept() -> Iterator[None]:
    """Put back the SIGTERM handler a call replaces (ray.init installs one that exits the process)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class StopRequest:
    """A stop asked for by a signal: `event` is set by the first one, `interrupt()` is what to raise."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None

    def interrupt(self) -> KeyboardInterrupt:
        return Terminated() if self.signum == signal.SIGTERM else KeyboardInterrupt()


@contextmanager
def stop_requested() -> Iterator[StopRequest]:
    """The first Ctrl-C (or SIGTERM, while the CLI handles it as an interrupt) only sets the request's event,
    so a loop can stop at its next step (tuning: the next boosting round); the previous handlers are back at
    once, so a second signal interrupts at once. Outside the main thread nothing is installed."""
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    signums = [signal.SIGINT, *([signal.SIGTERM] if sigterm_interrupts() else [])]
    previous = {signum: signal.getsignal(signum) for signum in signums}

    def handler(signum: int, frame: Any) -> None:
        stop.signum = signum
        stop.event.set()
        for s, h in previous.items():
            signal.signal(s, h)

    for signum in signums:
        signal.signal(signum, handler)
    try:
        yield stop
    finally:
        for signum, h in previous.items():
            signal.signal(signum, h)
