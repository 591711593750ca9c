"""Scoring on several threads of this process, each with its own copy of the model.

xgboost's prediction is thread-safe and releases the GIL, as pyarrow's reading and writing do, so
batches scored on several threads (one xgboost thread each) keep every CPU busy while the Python parts
of the next batches run; one OpenMP team per small batch spends more CPU waiting than that.
"""

from __future__ import annotations

import threading

from mlscale.modeling.model import Model

MAX_THREADS = 8  # scoring threads at most: past that, the Python parts of a batch queue on the GIL


def scoring_threads(cpus: int) -> tuple[int, int]:
    """(batches scored at once, xgboost threads each): one per CPU up to MAX_THREADS, the CPUs shared out
    evenly between them."""
    workers = max(1, min(cpus, MAX_THREADS))
    return workers, max(1, cpus // workers)


class ThreadModels:
    """One copy of a model per thread, each predicting with `nthread` threads (the thread count is a
    setting of the booster, so threads cannot share one booster with different counts)."""

    def __init__(self, model: Model, nthread: int) -> None:
        self.model = model
        self.nthread = nthread
        self._local = threading.local()

    def get(self) -> Model:
        copy = getattr(self._local, "model", None)
        if copy is None:
            copy = self._local.model = self.model.with_threads(self.nthread)
        return copy
