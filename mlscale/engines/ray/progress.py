"""Training progress for the display: rounds polled from rank 0 while the driver waits on a fit."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import ray

from mlscale.modeling.training import round_callback
from mlscale.results import OnProgress

PROGRESS_EVERY_S = 0.5


def throttled_progress(counter: Any, done: int) -> Any:
    """Rank 0 tells the counter actor its round at most every 0.5 s (fire and forget, no barrier)."""
    last = [0.0]

    def send(rounds: int, metrics: dict[str, float]) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S:
            last[0] = now
            counter.seen.remote(rounds, metrics)

    return round_callback(send, offset=done)


def await_fits(fits: list[Any], rank0: Any, total: int, progress: OnProgress | None) -> list[Any]:
    """Wait for every worker's fit, asking rank 0 for its round twice a second when someone watches."""
    pending = list(fits)
    shown = 0
    while progress is not None and pending:
        ready, pending = ray.wait(pending, num_returns=len(pending), timeout=PROGRESS_EVERY_S)
        ray.get(ready)  # a failed worker raises now, not after the others give up on it
        with contextlib.suppress(ray.exceptions.RayError):
            rounds, metrics = ray.get(rank0.progress.remote(), timeout=5)
            if rounds != shown:
                shown = rounds
                progress("round", {"round": rounds, "total": total, "metrics": metrics})
    return ray.get(fits)


def final_round(progress: OnProgress | None, rounds: int, total: int, history: dict[str, Any]) -> None:
    """The last round always reaches the display: polling twice a second can miss it."""
    if progress is not None and rounds:
        latest = {k: float(v[-1]) for k, v in history.get("valid", {}).items() if len(v)}
        progress("round", {"round": rounds, "total": total, "metrics": latest})


@contextlib.contextmanager
def polled_rounds(counter: Any, total: int, progress: OnProgress | None) -> Iterator[None]:
    """While Ray Train blocks the driver, a thread reads the round rank 0 last sent to the counter."""
    if progress is None:
        yield
        return
    stop = threading.Event()
    thread = threading.Thread(
        target=_poll, args=(counter, total, progress, stop.wait), name="mlscale-rounds", daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def _poll(counter: Any, total: int, progress: OnProgress, wait: Callable[[float], bool]) -> None:
    shown = 0
    while not wait(PROGRESS_EVERY_S):
        try:
            rounds, metrics = ray.get(counter.progress.remote(), timeout=5)
        except Exception:  # the display waits; the fit reports its own errors
            continue
        if rounds != shown:
            shown = rounds
            progress("round", {"round": rounds, "total": total, "metrics": metrics})
