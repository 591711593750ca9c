"""Tuning on a Dask cluster: each trial is a single-process xgboost fit in a task on a worker, on rows
scattered once, up to the cluster's threads at once; the Optuna study stays in the driver.

- The study lives in this process (Optuna's ask and tell), in `state_dir`'s sqlite file: the same
  `open_study`, `restored_trials` and `remember` as engine local, so `--resume` reads the same tune state
  and runs only the missing trials. `optuna_integration.dask.DaskStorage` (experimental) was the
  alternative: it keeps the study in the scheduler's memory, or in a storage the scheduler opens on its own
  machine, so a resumed run could not find it in `state_dir` and a restarted scheduler would lose it.
- Not `xgboost.dask`: its training takes a lock over the workers it uses, so distributed trials would run
  one after the other. A trial here is `xgboost.train` with `threads_per_trial` threads.
- Data: the train and valid rows are scattered once to every worker (`broadcast`); each worker thread
  builds its QuantileDMatrix pair once per max_bin and reuses it for its later trials (one pair per thread:
  xgboost does not promise that concurrent fits may share one matrix).
- An adaptive private cluster (engine.dask.adapt): the trials at once come from its maximum, and the
  driver keeps as many workers up as the trials left to run fill (its adaptive minimum), fewer as the last
  ones finish; trials start on the workers as they come. Asking rather than leaving it to Dask's
  task-based heuristics: a trial queued behind another on the first worker left a new worker idle, and
  the loop retired it before the queued trial moved there (measured).
- Placement: the driver gives each trial a worker with a free slot (its threads // threads_per_trial),
  at most `limit` trials at once; the restriction is loose (`allow_other_workers`), so the trial of a
  lost worker runs again on another one (the scheduler reschedules it, up to distributed's
  `allowed-failures`; past that the tune fails in one line, never short of trials).
- Pruning (ASHA-style, Optuna's successive halving in the driver): a trial sends its valid metric at each
  rung round (grace_period x 3^k, the only rounds where the pruner decides) through a distributed `Queue`
  and waits for the driver's verdict on a queue of its own; a pruned trial stops at that round.
- Same results as engine local: with one trial at a time (`tune.max_concurrent: 1`) the sampler sees the
  same finished trials in the same order and the pruner the same rung values, so the trials' parameters,
  statuses and scores equal engine local's for the same seed (up to xgboost's rounding differences
  between thread counts: local fits with all of this machine's threads). With several trials at once, as
  in every asynchronous search (engine ray's too), TPE samples without the results still running and a
  trial meets at a rung only the trials that reached it before it.
- Interrupts: Ctrl-C or SIGTERM sets a distributed `Event` that the trials check about once a second and
  raises KeyboardInterrupt here (the run ends KILLED); trials cut off are retired by `--resume`.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
import os
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from distributed import Client, Event, Future, Queue, get_worker, wait

from mlscale.data import Dataset
from mlscale.errors import EngineError, MlscaleError, RecipeError
from mlscale.modeling.training import fit_trial, quantile_pair, xgb_params
from mlscale.recipe.schema import TrainConfig, TuneConfig
from mlscale.results import OnTrial, TrialResult, TuneResult
from mlscale.tuning import objective as rules
from mlscale.tuning import optuna_trials
from mlscale.util.interrupts import StopRequest, stop_requested
from mlscale.util.text import first_line

log = logging.getLogger("mlscale")

STOP_CHECK_S = 1.0  # how often a trial asks whether the run was interrupted
VERDICT_TIMEOUT_S = 600.0  # a trial waits this long for the driver's pruning verdict, then fails
WORKER_WAIT_S = 60.0  # how long tuning waits for a worker when the cluster has none left
WAIT_S = 1.0  # the driver's longest wait between two looks at its trials (news wakes it at once)


@dataclass(frozen=True)
class TrialData:
    """The rows every trial fits on, scattered once to every worker; `key` names them in worker caches."""

    key: str
    x: pd.DataFrame
    y: np.ndarray
    x_valid: pd.DataFrame
    y_valid: np.ndarray


@dataclass(frozen=True)
class TrialSpec:
    """What one trial task needs besides the rows (small: it travels with the task)."""

    number: int
    params: dict[str, Any]
    train: TrainConfig
    metric: str
    rungs: tuple[int, ...]  # rounds to report at (empty: no pruning)
    channel: str  # prefix of this study's queues and stop event on the scheduler


@dataclass(frozen=True)
class TrialOutcome:
    """A finished fit as it comes back from the worker: the booster as bytes, where it ran."""

    number: int
    raw: bytes
    history: dict[str, dict[str, list[float]]]
    rounds: int
    pruned: bool
    seconds: float
    worker: str
    pid: int


# -- on the workers --------------------------------------------------------------------------------
_MATRICES: dict[tuple[Any, ...], Any] = {}
_MATRICES_LOCK = threading.Lock()


def _matrices(data: TrialData, *, nthread: int, max_bin: int) -> Any:
    """This thread's (train, valid) QuantileDMatrix pair for `data`, built once; other data's are dropped."""
    key = (data.key, max_bin, nthread, threading.get_ident())
    with _MATRICES_LOCK:
        for old in [k for k in _MATRICES if k[0] != data.key]:
            del _MATRICES[old]
        pair = _MATRICES.get(key)
    if pair is None:
        pair = quantile_pair(data.x, data.y, data.x_valid, data.y_valid, nthread=nthread, max_bin=max_bin)
        with _MATRICES_LOCK:
            _MATRICES[key] = pair
    return pair


class _Pruned(Exception):
    def __init__(self, booster: Any, rounds: int) -> None:
        self.booster, self.rounds = booster, rounds


class _TrialCallback(xgb.callback.TrainingCallback):
    """In a trial: stop when the run is interrupted; at each rung round report the valid metric to the
    driver and stop when it says the trial is pruned."""

    def __init__(self, spec: TrialSpec) -> None:
        self.spec = spec
        self.base = spec.metric.removeprefix("valid_")
        self.checked = time.monotonic()
        self.stop = Event(f"{spec.channel}-stop")
        self.reports = Queue(f"{spec.channel}-reports") if spec.rungs else None
        self.verdicts = Queue(f"{spec.channel}-verdict-{spec.number}") if spec.rungs else None

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        """Check for a stop about once a second; report at rung rounds."""
        if time.monotonic() - self.checked >= STOP_CHECK_S:
            self.checked = time.monotonic()
            if self.stop.is_set():
                raise optuna_trials.Interrupted()
        step = epoch + 1
        values = evals_log.get("valid", {}).get(self.base)
        if self.reports is not None and step in self.spec.rungs and values:
            self.reports.put(["report", self.spec.number, step, float(values[-1])])
            if self._verdict(step) == "prune":
                raise _Pruned(model, step)
        return False

    def _verdict(self, step: int) -> str:
        assert self.verdicts is not None
        deadline = time.monotonic() + VERDICT_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                said_step, verdict = self.verdicts.get(timeout=STOP_CHECK_S)
            except TimeoutError:
                if self.stop.is_set():
                    raise optuna_trials.Interrupted() from None
                continue
            if said_step == step:  # an older verdict was meant for a run of this trial on a lost worker
                return str(verdict)
        raise EngineError(f"dask: trial {self.spec.number} had no pruning verdict in {VERDICT_TIMEOUT_S:g}s")

    def close(self) -> None:
        """Tell the driver this trial ends (it waits on the reports queue when pruning), free the queues."""
        if self.reports is not None:
            self.reports.put(["done", self.spec.number])
        for queue in (self.reports, self.verdicts):
            if queue is not None:
                queue.close()


def run_trial_task(data: TrialData, spec: TrialSpec) -> TrialOutcome:
    """One trial on a worker: fit (stopped early by the pruner), the booster back as bytes."""
    started = time.perf_counter()
    dtrain, dvalid = _matrices(data, nthread=int(spec.params["nthread"]), max_bin=int(spec.params["max_bin"]))
    callback = _TrialCallback(spec)
    pruned = False
    try:
        booster, history, rounds = fit_trial(spec.params, dtrain, dvalid, spec.train, [callback])
    except _Pruned as stop:
        booster, history, rounds, pruned = stop.booster, {}, stop.rounds, True
    finally:
        callback.close()
    return TrialOutcome(
        number=spec.number,
        raw=bytes(booster.save_raw("ubj")),
        history=history,
        rounds=rounds,
        pruned=pruned,
        seconds=time.perf_counter() - started,
        worker=get_worker().address,
        pid=os.getpid(),
    )


# -- in the driver ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Growth:
    """An adaptive cluster tuning may grow: its most workers, the trials one of them runs at once, and how
    to keep a number of workers up (its adaptive minimum)."""

    most_workers: int
    slots_each: int
    keep: Callable[[int], None]

    def workers_for(self, trials: int) -> int:
        """The workers `trials` at once fill (at least one: the rows' home), at most the maximum."""
        return max(1, min(self.most_workers, math.ceil(trials / max(1, self.slots_each))))


def trial_slots(nthreads: dict[str, int], threads_per_trial: int) -> dict[str, int]:
    """How many trials each worker runs at once: its threads // threads_per_trial, at least one."""
    return {addr: max(1, n // max(1, threads_per_trial)) for addr, n in nthreads.items()}


def run_tune(
    client: Client,
    data: Dataset,
    train: TrainConfig,
    tune: TuneConfig,
    *,
    threads_per_trial: int,
    on_trial: OnTrial,
    state_dir: Path,
    resume: bool = False,
    growth: Growth | None = None,
) -> TuneResult:
    """Run the study's missing trials on the cluster's workers (all of them, with `resume`, when none is done);
    `growth`: an adaptive cluster, grown for the trials at once its maximum takes."""
    if data.stream is not None:
        raise RecipeError(
            "dask: tune with train.external_memory on is not supported (trials fit in memory); "
            "set train.external_memory: off, or use engine ray"
        )
    metric, mode = rules.tune_objective(tune, data.schema.task)
    study = optuna_trials.open_study(tune, mode, state_dir, resume)
    trials, models = optuna_trials.restored_trials(study, state_dir, on_trial)
    restored = len(trials)
    missing = max(0, tune.num_samples - restored)
    slots = trial_slots(client.nthreads(), threads_per_trial)
    most = growth.most_workers * growth.slots_each if growth else sum(slots.values())
    limit = max(1, min(tune.max_concurrent or most, tune.num_samples))
    if resume:
        log.info("tune: resuming, %d trial(s) done, %d to run", restored, missing)
    log.info("tune: up to %d trial(s) at once, %d thread(s) each", limit, threads_per_trial)
    search = _Search(client, study, data, train, tune, metric=metric, threads=threads_per_trial, limit=limit)
    search.growth = growth
    with stop_requested() as stop:
        if missing:
            search.run(missing, stop, state_dir=state_dir, on_trial=on_trial)
    for result in search.results:
        trials.append(result)
        if result.status == "completed" and result.model is not None:
            models[result.number] = result.model
    trials.sort(key=lambda t: t.number)
    best = rules.best_trial(trials, mode, engine="dask")
    return TuneResult(
        trials=trials,
        best=best,
        best_model=models[best.number],
        metric=metric,
        mode=mode,
        trials_restored=restored,
        details={
            "state_dir": str(state_dir),
            "max_concurrent": limit,
            "threads_per_trial": threads_per_trial,
            "trials_per_worker": dict(search.placement),
        },
    )


@dataclass
class _Running:
    trial: Any  # optuna.Trial
    sampled: dict[str, Any]
    worker: str


class _Search:
    """The driver's loop: ask, place and submit trials up to `limit`, answer rung reports, tell results."""

    def __init__(
        self,
        client: Client,
        study: Any,
        data: Dataset,
        train: TrainConfig,
        tune: TuneConfig,
        *,
        metric: str,
        threads: int,
        limit: int,
    ) -> None:
        self.client, self.study, self.data, self.train, self.tune = client, study, data, train, tune
        self.metric, self.threads, self.limit = metric, threads, limit
        self.channel = f"mlscale-tune-{uuid.uuid4().hex[:12]}"
        self.rungs = optuna_trials.rung_steps(tune, train.num_boost_round) if tune.scheduler == "asha" else ()
        self.running: dict[Future, _Running] = {}
        self.verdicts: dict[int, Queue] = {}
        self.results: list[TrialResult] = []
        self.placement: collections.Counter[str] = collections.Counter()
        self.reports: Queue | None = None
        self.rows: Future | None = None
        self.growth: Growth | None = None
        self.kept = 0  # the workers asked of an adaptive cluster

    def run(self, missing: int, stop: StopRequest, *, state_dir: Path, on_trial: OnTrial) -> None:
        """Run `missing` trials; on any error or interrupt, stop the trials still running."""
        self.reports = Queue(f"{self.channel}-reports", client=self.client)
        shared = TrialData(
            self.channel, self.data.x_train, self.data.y_train, self.data.x_valid, self.data.y_valid
        )
        [self.rows] = self.client.scatter([shared], broadcast=True, hash=False)
        asked = 0
        try:
            while asked < missing or self.running:
                if stop.event.is_set():
                    raise stop.interrupt()
                self._grow(missing - asked + len(self.running))
                while asked < missing and len(self.running) < self.limit:
                    worker = self._free_worker()
                    if worker is None:
                        break
                    self._submit(worker)
                    asked += 1
                if not self.running and asked < missing:  # no worker at all (all lost): wait for one, or fail
                    self._wait_for_a_worker()
                    continue
                self._wait_for_news()
                for future in [f for f in self.running if f.done()]:
                    self._finish(future, state_dir=state_dir, on_trial=on_trial)
        finally:
            self._close()

    def _grow(self, left: int) -> None:
        """On an adaptive cluster: keep up the workers that the trials left to run fill."""
        if self.growth is None:
            return
        want = self.growth.workers_for(min(left, self.limit))
        if want != self.kept:
            self.growth.keep(want)
            self.kept = want

    def _wait_for_a_worker(self) -> None:
        try:
            self.client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except TimeoutError:
            raise EngineError(
                f"dask: no worker left to run tuning trials (waited {WORKER_WAIT_S:g}s)"
            ) from None

    def _free_worker(self) -> str | None:
        """The worker with the most free trial slots now (workers that left are not counted)."""
        slots = trial_slots(self.client.nthreads(), self.threads)
        busy = collections.Counter(r.worker for r in self.running.values())
        free = {addr: n - busy[addr] for addr, n in slots.items() if n > busy[addr]}
        return max(sorted(free), key=lambda addr: free[addr]) if free else None

    def _submit(self, worker: str) -> None:
        trial = self.study.ask()
        sampled = {name: optuna_trials.suggest(trial, name, dim) for name, dim in self.tune.space.items()}
        params = xgb_params(self.train, self.data.schema, nthread=self.threads, overrides=sampled)
        spec = TrialSpec(trial.number, params, self.train, self.metric, self.rungs, self.channel)
        future = self.client.submit(
            run_trial_task,
            self.rows,
            spec,
            key=f"{self.channel}-trial-{trial.number:03d}",
            workers=[worker],
            allow_other_workers=True,  # a lost worker's trial runs again on another one
            pure=False,
        )
        self.running[future] = _Running(trial, sampled, worker)

    def _wait_for_news(self) -> None:
        """Wait (at most WAIT_S) for a trial to finish or, with pruning, for a rung report, answered with the
        pruner's verdict. A trial sends "done" as it ends: its future follows within moments."""
        waiting = list(self.running)
        if self.reports is not None and self.rungs:
            try:
                news = self.reports.get(timeout=WAIT_S)
            except TimeoutError:
                return
            if news[0] == "report":
                self._answer(*news[1:])
                return
            waiting = [f for f, r in self.running.items() if r.trial.number == news[1]]
        if waiting:
            with (
                contextlib.suppress(TimeoutError),
                self.client.as_current(),
            ):  # wait() uses the current client
                wait(waiting, timeout=WAIT_S, return_when="FIRST_COMPLETED")

    def _answer(self, number: int, step: int, value: float) -> None:
        run = next((r for r in self.running.values() if r.trial.number == number), None)
        if run is None:  # a trial that finished meanwhile
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a step reported twice: the run of a trial on a lost worker
            run.trial.report(float(value), step=int(step))
        verdict = "prune" if run.trial.should_prune() else "go"
        if number not in self.verdicts:
            self.verdicts[number] = Queue(f"{self.channel}-verdict-{number}", client=self.client)
        self.verdicts[number].put([step, verdict])

    def _finish(self, future: Future, *, state_dir: Path, on_trial: OnTrial) -> None:
        """Score a finished trial like engine local, record it for --resume, report it, tell the study."""
        import optuna

        from mlscale.modeling.model import Model

        run = self.running.pop(future)
        try:
            outcome: TrialOutcome = future.result()
        except MlscaleError:
            self.study.tell(run.trial, state=optuna.trial.TrialState.FAIL)
            raise
        except Exception as exc:
            self.study.tell(run.trial, state=optuna.trial.TrialState.FAIL)
            raise EngineError(f"dask: tuning trial {run.trial.number} failed ({first_line(exc)})") from exc
        booster = Model.from_bytes(outcome.raw, {"schema": self.data.schema.to_dict()}).booster
        fitted = optuna_trials.FittedTrial(
            outcome.number, booster, outcome.history, outcome.rounds, outcome.pruned, outcome.seconds
        )
        result = optuna_trials.scored(fitted, self.data, run.sampled, self.metric)
        self.placement[f"{outcome.worker} (pid {outcome.pid})"] += 1
        optuna_trials.remember(run.trial, result, state_dir)
        self.results.append(result)
        on_trial(result)
        if outcome.pruned:
            self.study.tell(run.trial, state=optuna.trial.TrialState.PRUNED)
        else:
            self.study.tell(run.trial, result.metric)

    def _close(self) -> None:
        """Stop what still runs (tasks in threads cannot be killed: they see the stop event), free the
        scheduler's queues and the scattered rows."""
        if self.running:
            Event(f"{self.channel}-stop", client=self.client).set()
            self.client.cancel(list(self.running))
            self.running.clear()
        for queue in [*self.verdicts.values(), *([self.reports] if self.reports is not None else [])]:
            queue.close()
        self.verdicts.clear()
        if self.rows is not None:
            self.rows.release()
            self.rows = None
