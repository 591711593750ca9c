"""SHAP contributions on the cluster: the sample's rows cut into a few parts, one Ray task each (spread over
the nodes), each loading the booster and running xgboost's TreeSHAP (`mlscale.assess.explanations.contributions`).

Only the sample travels (by value, through the object store) and only the contributions come back; the
driver computes nothing. Each part says which node and process computed it (`ExplainedPart`).
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

import numpy as np
import pandas as pd
import ray

from mlscale.assess.explanations import contributions
from mlscale.engines.base import ExplainedPart, ExplainResult
from mlscale.engines.ray.worker import node_id, use_threads
from mlscale.errors import EngineError
from mlscale.modeling.model import Model
from mlscale.util.text import first_line

MIN_ROWS_PER_TASK = 250  # smaller parts cost more in task start-up than they save
TIMEOUT_S = 1_800


@ray.remote
def _explain_part(
    raw: bytes, meta: dict[str, Any], x: pd.DataFrame, nthread: int
) -> tuple[np.ndarray, ExplainedPart]:
    use_threads(nthread)
    started = time.perf_counter()
    model = Model.from_bytes(raw, meta)
    values = contributions(model.booster, x, nthread=nthread)
    part = ExplainedPart(rows=len(x), node=node_id(), pid=os.getpid(), seconds=time.perf_counter() - started)
    return values, part


def explain_on_cluster(
    model: Model, x: pd.DataFrame, *, tasks: int, cpus: float, threads: int
) -> ExplainResult:
    """Contributions of `x` from at most `tasks` Ray tasks of `cpus` CPU each, in the rows' order."""
    started = time.perf_counter()
    n = max(1, min(tasks, len(x) // MIN_ROWS_PER_TASK))
    bounds = np.linspace(0, len(x), n + 1).astype(int)
    raw, meta = model.to_bytes()
    raw_ref = ray.put(raw)
    task = _explain_part.options(num_cpus=cpus, scheduling_strategy="SPREAD")
    refs = [task.remote(raw_ref, meta, x.iloc[lo:hi], threads) for lo, hi in itertools.pairwise(bounds)]
    try:
        done = ray.get(refs, timeout=TIMEOUT_S)
    except ray.exceptions.GetTimeoutError as exc:
        for ref in refs:
            ray.cancel(ref)
        raise EngineError(
            f"explain: the SHAP tasks did not finish within {TIMEOUT_S}s (the cluster may lack {cpus:g} free CPU)"
        ) from exc
    except ray.exceptions.RayError as exc:
        raise EngineError(f"explain: a SHAP task failed on the cluster ({first_line(exc)})") from exc
    values = np.concatenate([v for v, _ in done], axis=0)
    return ExplainResult(values=values, parts=[p for _, p in done], seconds=time.perf_counter() - started)
