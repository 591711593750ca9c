"""The private LocalCluster between `engine.dask.adapt`'s bounds: Dask's adaptive loop (`cluster.adapt`)
starts workers while tasks wait for them and retires them once idle.

A cluster without tasks does not grow, and xgboost's collective needs a fixed set of workers for the whole
fit, so training raises the adaptive minimum to the workers it trains on, waits for them (the run's
`scale` phase, `time_scale_s`, at most engine.dask.scale_timeout_s) and sets the minimum back after the
fit: no worker of the fit is retired under it. Tuning, predict and explain raise it to one worker, the home
of the rows or the model they scatter, and their tasks are the demand that grows the cluster up to the
maximum; the minimum goes back when they end, and the idle workers go a few looks of the loop later.
Only the minimum changes: the maximum, the loop's interval, wait_count and target_duration stay the
recipe's (`cluster.adapt` keeps the options it was given and replaces the loop).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import distributed

from mlscale.engines.dask.scheduler import present_workers
from mlscale.errors import EngineError
from mlscale.recipe.engine_config import DaskAdapt
from mlscale.results import OnProgress

log = logging.getLogger("mlscale")
PROGRESS_EVERY_S = 5.0
LOOK_EVERY_S = 0.5


@dataclass
class AdaptiveCluster:
    """A private LocalCluster under Dask's adaptive loop, and the minimum the recipe gave it."""

    cluster: distributed.LocalCluster
    client: distributed.Client
    bounds: DaskAdapt

    def start(self) -> None:
        """Turn the adaptive loop on with the recipe's bounds and options."""
        b = self.bounds
        self.cluster.adapt(
            minimum=b.minimum,
            maximum=b.maximum,
            interval=b.interval_s,
            wait_count=b.wait_count,
            target_duration=b.target_duration_s,
        )

    def keep(self, minimum: int) -> None:
        """Keep at least `minimum` workers (never fewer than the recipe's minimum, never more than its
        maximum); the loop's other options stay."""
        b = self.bounds
        self.cluster.adapt(minimum=min(b.maximum, max(b.minimum, minimum)), maximum=b.maximum)

    def count(self) -> int:
        """Workers up now, as the scheduler counts them."""
        return len(present_workers(self.client))

    def wait_for(self, want: int, *, timeout_s: float, progress: OnProgress | None = None) -> float:
        """Wait until the cluster has `want` workers; the seconds waited. Logs `waiting for 2 worker(s)
        from the adaptive cluster: 1 of 2 up, 5 s` every few seconds and reports ("nodes", {"up", "want",
        "seconds", "unit"}) to `progress`. EngineError, one line, after `timeout_s`."""
        started, last_said = time.monotonic(), 0.0
        while True:
            up, waited = min(want, self.count()), time.monotonic() - started
            if up >= want:
                if waited >= LOOK_EVERY_S:
                    log.info("dask: %d worker(s) of the adaptive cluster up after %.0f s", want, waited)
                return waited
            if waited >= timeout_s:
                raise EngineError(
                    f"dask: the adaptive cluster did not start {want} worker(s) within "
                    f"engine.dask.scale_timeout_s={timeout_s:g} ({up} of {want} up); check that this machine "
                    "can start the worker processes (memory, process limits) or raise the timeout"
                )
            if progress is not None:
                progress("nodes", {"up": up, "want": want, "seconds": waited, "unit": "workers"})
            if waited - last_said >= PROGRESS_EVERY_S or last_said == 0.0:
                log.info(
                    "waiting for %d worker(s) from the adaptive cluster: %d of %d up, %.0f s",
                    want,
                    up,
                    want,
                    waited,
                )
                last_said = max(waited, 1e-9)
            time.sleep(LOOK_EVERY_S)

    @contextlib.contextmanager
    def holding(self, want: int, *, timeout_s: float, progress: OnProgress | None = None) -> Iterator[None]:
        """`want` workers kept up (waited for first) for the block; the recipe's minimum again after it."""
        self.keep(want)
        try:
            self.wait_for(want, timeout_s=timeout_s, progress=progress)
            yield
        finally:
            self.keep(self.bounds.minimum)
