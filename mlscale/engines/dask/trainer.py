"""Training with `xgboost.dask`: a DaskQuantileDMatrix over the workers' partitions, early stopping on the
valid split, xgboost's collective configured through `xgboost.collective.Config`.

The tracker runs in the scheduler process on the scheduler's own host (127.0.0.1 for a private cluster), so
the workers reach it wherever they reach the scheduler and nothing listens beyond it. Collective steps
time out after engine.dask.collective_timeout seconds: a lost worker fails the run instead of hanging it.

The driver waits in its main thread (the training call runs in a helper thread), showing the rounds the
first worker notes; on Ctrl-C or SIGTERM it tells every training worker to stop, and they agree on it
through an allreduce, so the workers of a shared cluster stop at the same round and are free again, and the
interrupt reaches the caller.
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
from mlscale.engines.dask.connection import check_workers, scheduler_of, worker_pids
from mlscale.engines.dask.layout import TrainLayout
from mlscale.engines.dask.scheduler import present_workers
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


# On a worker: the latest (round, valid metrics) of each training in progress, and the trainings asked to
# stop; written by the training thread and by `client.run` from the driver, emptied when a training ends.
_ROUNDS: dict[str, tuple[int, dict[str, float]]] = {}
_STOP: set[str] = set()


class RoundSync(xgb.callback.TrainingCallback):
    """On every worker after each round: note the round for the driver, read whether the driver asked to
    stop, and agree with the other workers (allreduce MAX) on it, so that all stop at the same round. The
    driver reaches these notes with `client.run` (the worker's event loop answers while the fit runs), so
    the fit needs no client of its own."""

    def __init__(self, name: str) -> None:
        self.name = name

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        latest = {k: float(v[-1]) for k, v in evals_log.get("valid", {}).items() if len(v)}
        _ROUNDS[self.name] = (epoch + 1, latest)
        stop = int(self.name in _STOP)
        if collective.get_world_size() > 1:
            stop = int(collective.allreduce(np.array([stop], dtype=np.int32), collective.Op.MAX)[0])
        return bool(stop)


def _ask_stop(name: str) -> None:
    _STOP.add(name)


def _rounds_of(name: str) -> tuple[int, dict[str, float]] | None:
    return _ROUNDS.get(name)


def _forget(name: str) -> None:
    _ROUNDS.pop(name, None)
    _STOP.discard(name)


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
                check_workers(client, workers, doing="training")
            if progress is not None and thread.is_alive():
                shown = _show(client, name, workers[0], shown, total, progress)
    except BaseException as exc:  # Ctrl-C / SIGTERM / a lost worker: the others stop at their next round
        with contextlib.suppress(Exception):
            client.run(_ask_stop, name, workers=[w for w in workers if w in present_workers(client)])
        # an interrupt waits for the workers to stop together; after a lost worker the others wait on it
        # in a collective step until engine.dask.collective_timeout, which the run does not wait for
        thread.join(1 if isinstance(exc, EngineError) else 30)
        raise
    finally:
        with contextlib.suppress(Exception):  # (asking a worker that is gone waits for a comm timeout)
            client.run(_forget, name, workers=[w for w in workers if w in present_workers(client)])
    if "error" in outcome:
        error = outcome["error"]
        for _ in range(4):  # the cause, when a worker is gone (the scheduler may notice a moment later)
            check_workers(client, workers, doing="training")
            time.sleep(POLL_S)
        raise EngineError(
            f"dask: training failed on the workers ({type(error).__name__}: {first_line(error)}); "
            "a worker may have been lost (engine.dask.collective_timeout bounds the wait)"
        ) from error
    return outcome["result"]


def _show(
    client: distributed.Client, name: str, worker: str, shown: int, total: int, progress: OnProgress
) -> int:
    try:
        latest = client.run(_rounds_of, name, workers=[worker]).get(worker)
    except Exception:
        return shown
    if latest is None or latest[0] == shown:
        return shown
    progress("round", {"round": latest[0], "total": total, "metrics": latest[1]})
    return int(latest[0])


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
