"""SHAP contributions on a Dask cluster: the sample's rows cut into a few parts, one task each, spread over
the workers; each loads the booster (scattered once) and runs xgboost's TreeSHAP
(`mlscale.assess.explanations.contributions`). Only the parts travel (each scattered to the worker that
explains it) and only the contributions come back; the driver computes nothing. Each part says which
worker and process computed it (`ExplainedPart`).
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

import numpy as np
import pandas as pd
from distributed import Client, get_worker, wait

from mlscale.assess.explanations import contributions
from mlscale.errors import EngineError
from mlscale.modeling.model import Model
from mlscale.results import ExplainedPart, ExplainResult
from mlscale.util.text import first_line

MIN_ROWS_PER_TASK = 250  # smaller parts cost more in task start-up than they save
TIMEOUT_S = 1_800


def explain_part_task(
    raw: bytes, meta: dict[str, Any], x: pd.DataFrame, nthread: int
) -> tuple[np.ndarray, ExplainedPart]:
    """On a worker: the contributions of one part of the rows, and where they were computed."""
    started = time.perf_counter()
    model = Model.from_bytes(raw, meta)
    values = contributions(model.booster, x, nthread=nthread)
    seconds = time.perf_counter() - started
    return values, ExplainedPart(rows=len(x), node=get_worker().address, pid=os.getpid(), seconds=seconds)


def explain_on_cluster(
    client: Client, model: Model, x: pd.DataFrame, *, tasks: int, threads: int
) -> ExplainResult:
    """Contributions of `x` from at most `tasks` tasks of `threads` threads each, in the rows' order; part
    i goes to the i-th worker (round robin), another one if that worker is lost."""
    started = time.perf_counter()
    n = max(1, min(tasks, len(x) // MIN_ROWS_PER_TASK))
    bounds = np.linspace(0, len(x), n + 1).astype(int)
    workers = sorted(client.nthreads())
    if not workers:
        raise EngineError("explain: the Dask cluster has no workers")
    raw, meta = model.to_bytes()
    raw_future = client.scatter(raw, broadcast=True, hash=False)
    futures = []
    for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        worker = workers[i % len(workers)]
        part = client.scatter(x.iloc[lo:hi], workers=[worker], hash=False)
        futures.append(
            client.submit(
                explain_part_task,
                raw_future,
                meta,
                part,
                threads,
                workers=[worker],
                allow_other_workers=True,
                pure=False,
            )
        )
    try:
        with client.as_current():  # wait() uses the current client
            wait(futures, timeout=TIMEOUT_S)
        done = client.gather(futures)
    except TimeoutError as exc:
        client.cancel(futures)
        raise EngineError(f"explain: the SHAP tasks did not finish within {TIMEOUT_S}s") from exc
    except Exception as exc:
        client.cancel(futures)
        raise EngineError(f"explain: a SHAP task failed on the cluster ({first_line(exc)})") from exc
    values = np.concatenate([v for v, _ in done], axis=0)
    return ExplainResult(values=values, parts=[p for _, p in done], seconds=time.perf_counter() - started)
