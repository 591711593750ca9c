"""Training with `xgboost.dask`: a DaskQuantileDMatrix over the workers' partitions, early stopping on the
valid split, xgboost's collective configured through `xgboost.collective.Config`.

The tracker runs in the scheduler process on the scheduler's own host (127.0.0.1 for a private cluster), so
the workers reach it wherever they reach the scheduler and nothing listens beyond it. Collective steps
time out after engine.dask.collective_timeout seconds: a lost worker fails the run instead of hanging it.

The driver waits in its main thread (the training call runs in a helper thread), showing rounds as the
workers report them; on Ctrl-C or SIGTERM it sets a stop event that every worker reads within half a
second and agrees on through an allreduce, so the workers of a shared cluster stop at the same round and
are free again, and the interrupt reaches the caller.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import distributed
import numpy as np
import pandas as pd
import xgboost as xgb
from xgboost import collective

from mlscale.data import Dataset
from mlscale.engines.dask.connection import scheduler_of, worker_pids
from mlscale.engines.dask.layout import TrainLayout
from mlscale.engines.dask.train_data import LABEL, WorkerFrames, worker_frames
from mlscale.errors import EngineError
from mlscale.modeling.model import Model
from mlscale.modeling.training import TRAIN_CURVE_MAX_ROWS, cut_at_best, quantile_pair
from mlscale.modeling.training import fit as fit_model
from mlscale.recipe.schema import TrainConfig
from mlscale.results import OnProgress, Placement, TrainResult
from mlscale.util.text import first_line

log = logging.getLogger("mlscale")
POLL_S = 0.5


class RoundSync(xgb.callback.TrainingCallback):
    """On every worker after each round: report progress and read the stop event (at most every POLL_S),
    then agree with the other workers (allreduce MAX) on whether to stop, so that all stop at one round."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.last = 0.0

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        stop = 0
        now = time.monotonic()
        if now - self.last >= POLL_S:
            self.last = now
            latest = {k: float(v[-1]) for k, v in evals_log.get("valid", {}).items() if len(v)}
            with contextlib.suppress(Exception):  # progress is never worth failing a fit for
                distributed.Variable(f"{self.name}-progress").set((epoch + 1, latest))
            stop = int(distributed.Event(f"{self.name}-stop").is_set())
        if collective.get_world_size() > 1:
            stop = int(collective.allreduce(np.array([stop], dtype=np.int32), collective.Op.MAX)[0])
        return bool(stop)


def collective_config(client: distributed.Client, timeout: int) -> collective.Config:
    """The tracker on the scheduler's host, collective steps and the tracker bounded by `timeout` s."""
    host = distributed.comm.get_address_host(scheduler_of(client))
    return collective.Config(timeout=timeout, tracker_host_ip=host, tracker_timeout=timeout)


def train_dask(
    client: distributed.Client,
    data: Dataset,
    train: TrainConfig,
    params: dict[str, Any],
    layout: TrainLayout,
    *,
    timeout: int,
    progress: OnProgress | None,
) -> TrainResult:
    """Fit one model on `layout.workers`, each holding its own partition of train and valid rows: one
    worker fits plain xgboost in a task (no collective: the same trees as engine local, and nothing
    listening), several fit together with xgboost.dask."""
    name = f"mlscale-train-{uuid.uuid4().hex}"
    with client.as_current():  # dask and xgboost.dask ask for the current client even when given one
        frames = worker_frames(client, data, layout.addresses)
        if len(layout.workers) == 1:
            fit = _one_worker(client, frames, data, train, params, layout.addresses[0], name)
        else:
            fit = _collective(client, frames, data, train, params, timeout, name)
    output = _run_watched(client, name, fit, layout.addresses, train.num_boost_round, progress)
    booster = output["booster"]
    history = {
        s: {m: [float(v) for v in vals] for m, vals in ms.items()} for s, ms in output["history"].items()
    }
    rounds = int(output.get("rounds") or booster.num_boosted_rounds())
    booster = cut_at_best(booster, train.early_stopping_rounds)
    if progress is not None and rounds:
        latest = {k: float(v[-1]) for k, v in history.get("valid", {}).items() if len(v)}
        progress("round", {"round": rounds, "total": train.num_boost_round, "metrics": latest})
    model = Model(booster, data.schema, info={"rounds": rounds, "best_rounds": booster.num_boosted_rounds()})
    return TrainResult(
        model=model,
        history=history,
        rounds=rounds,
        placement=_placement(client, layout, data),
        details={
            "trainer": "xgboost" if len(layout.workers) == 1 else "xgboost.dask",
            "workers": len(layout.workers),
            "threads_per_worker": layout.threads,
            "data": frames.source,
        },
    )


Fit = Callable[[], dict[str, Any]]


def _collective(
    client: distributed.Client,
    frames: WorkerFrames,
    data: Dataset,
    train: TrainConfig,
    params: dict[str, Any],
    timeout: int,
    name: str,
) -> Fit:
    """xgboost.dask.train over DaskQuantileDMatrix partitions, the collective bounded by `timeout`."""
    import xgboost.dask as dxgb

    features = list(data.x_train.columns)
    max_bin = int(params.get("max_bin", 256))
    dtrain = dxgb.DaskQuantileDMatrix(
        client, frames.train[features], frames.train[LABEL], enable_categorical=True, max_bin=max_bin
    )
    dvalid = dxgb.DaskQuantileDMatrix(
        client, frames.valid[features], frames.valid[LABEL], enable_categorical=True, ref=dtrain
    )
    curve = data.n_train <= TRAIN_CURVE_MAX_ROWS
    evals = [(dtrain, "train"), (dvalid, "valid")] if curve else [(dvalid, "valid")]

    def fit() -> dict[str, Any]:
        with client.as_current():
            return dxgb.train(
                client,
                params,
                dtrain,
                num_boost_round=train.num_boost_round,
                evals=evals,
                early_stopping_rounds=train.early_stopping_rounds,
                verbose_eval=False,
                callbacks=[RoundSync(name)],
                coll_cfg=collective_config(client, timeout),
            )

    return fit


def _one_worker(
    client: distributed.Client,
    frames: WorkerFrames,
    data: Dataset,
    train: TrainConfig,
    params: dict[str, Any],
    address: str,
    name: str,
) -> Fit:
    """Plain xgboost in one task on the worker holding the rows."""
    ((train_part, valid_part),) = frames.parts

    def fit() -> dict[str, Any]:
        future = client.submit(
            fit_partitions,
            train_part,
            valid_part,
            params,
            train.num_boost_round,
            train.early_stopping_rounds,
            data.n_train <= TRAIN_CURVE_MAX_ROWS,
            name,
            workers=[address],
            allow_other_workers=False,
            pure=False,
        )
        return dict(future.result())

    return fit


def fit_partitions(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    params: dict[str, Any],
    rounds: int,
    early_stopping_rounds: int | None,
    with_train_curve: bool,
    name: str,
) -> dict[str, Any]:
    """Runs on a worker: the model of its train and valid partitions, as `modeling.training.fit` trains it."""
    x, xv = train.drop(columns=[LABEL]), valid.drop(columns=[LABEL])
    nthread = int(params.get("nthread") or 0)
    dtrain, dvalid = quantile_pair(
        x,
        train[LABEL].to_numpy(),
        xv,
        valid[LABEL].to_numpy(),
        nthread=nthread,
        max_bin=int(params.get("max_bin", 256)),
    )
    booster, history, done = fit_model(
        params,
        dtrain,
        dvalid,
        num_boost_round=rounds,
        early_stopping_rounds=early_stopping_rounds,
        with_train_curve=with_train_curve,
        callbacks=[RoundSync(name)],
    )
    return {"booster": booster, "history": history, "rounds": done}


def _run_watched(
    client: distributed.Client,
    name: str,
    fit: Fit,
    workers: list[str],
    total: int,
    progress: OnProgress | None,
) -> dict[str, Any]:
    """`fit` in a helper thread while this one shows progress and watches the training workers; an
    interrupt, or a training worker leaving the cluster, stops the others at their next round."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = fit()
        except BaseException as exc:  # handed to the waiting thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="mlscale-dask-train", daemon=True)
    shown = 0
    try:
        thread.start()
        while thread.is_alive():
            thread.join(POLL_S)
            if thread.is_alive():
                _check_workers(client, workers)
            if progress is not None and thread.is_alive():
                shown = _show(client, name, shown, total, progress)
    except BaseException:  # Ctrl-C / SIGTERM / a lost worker: the workers stop at their next round, together
        with contextlib.suppress(Exception):
            distributed.Event(f"{name}-stop", client=client).set()
        thread.join(30)
        raise
    finally:
        with contextlib.suppress(Exception):
            distributed.Variable(f"{name}-progress", client=client).delete()
    if "error" in outcome:
        exc = outcome["error"]
        raise EngineError(
            f"dask: training failed on the workers ({type(exc).__name__}: {first_line(exc)}); "
            "a worker may have been lost (engine.dask.collective_timeout bounds the wait)"
        ) from exc
    return outcome["result"]


def _check_workers(client: distributed.Client, workers: list[str]) -> None:
    """EngineError when a training worker has left the cluster (killed, lost, restarted by its nanny)."""
    try:
        present = set(client.scheduler_info(n_workers=-1)["workers"])
    except Exception:  # the scheduler itself did not answer: the fit's own error says more
        return
    gone = [w for w in workers if w not in present]
    if gone:
        raise EngineError(
            f"dask: training worker {gone[0]} left the cluster during training (killed or lost); "
            "the run stops (run it again: the cluster's other workers are free)"
        )


def _show(client: distributed.Client, name: str, shown: int, total: int, progress: OnProgress) -> int:
    try:
        rounds, metrics = distributed.Variable(f"{name}-progress", client=client).get(timeout=0.2)
    except Exception:
        return shown
    if rounds != shown:
        progress("round", {"round": rounds, "total": total, "metrics": metrics})
    return int(rounds)


def _placement(client: distributed.Client, layout: TrainLayout, data: Dataset) -> list[Placement]:
    """One entry per training worker: its address, its process (asked of the worker) and its train rows."""
    pids: dict[str, int] = {}
    with contextlib.suppress(Exception):
        pids = worker_pids(client, layout.addresses)
    edges = np.linspace(0, data.n_train, len(layout.workers) + 1).astype(int)
    return [
        Placement(
            rank=rank,
            node=w.address,
            pid=pids.get(w.address),
            rows=int(edges[rank + 1] - edges[rank]),
        )
        for rank, w in enumerate(layout.workers)
    ]
