"""Engine `ray`: the only module that imports ray.

- Connection: no address -> a private local Ray on 127.0.0.1 (dashboard off); `auto` / host:port -> join
  a `ray start` cluster; ray://host:port -> Ray Client. Token auth stays on (see README, Security).
- Training: `actors` (default without retries): one plain Ray actor per node running xgboost with its
  own collective communicator (RabitTracker), data through the object store. `ray_train` (default when
  engine.max_failures > 0): Ray Train V2 XGBoostTrainer with FailureConfig and checkpoints every
  engine.report_every rounds, resumed from the last checkpoint after a worker dies.
- Tuning: Ray Tune with plain function trials (no Train start-up per trial), data shared once through
  the object store, ASHA on per-round metrics, resumable with Tuner.restore.
- Inference: Ray Data read -> map_batches on an actor pool (booster loaded once per actor, fractional
  CPUs so reads always find a CPU) -> streamed back and written atomically like the local engine.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlscale import rules
from mlscale.data import Dataset, FeatureSchema, SourceFiles, file_format, read_rows, resolve_files
from mlscale.engines.base import (
    ClusterInfo,
    EnginePlan,
    OnProgress,
    OnTrial,
    PredictResult,
    TrainResult,
    TrialResult,
    TuneResult,
)
from mlscale.errors import EngineError, RecipeError
from mlscale.model import Model
from mlscale.predicting import AtomicTableWriter, input_frames, input_rows, predict_stream
from mlscale.recipe.schema import EngineConfig, PredictConfig, SearchDim, TrainConfig, TuneConfig
from mlscale.training import evaluate, fit, fit_trial, quantile_pair, quantize, round_callback, xgb_params

log = logging.getLogger("mlscale")
# mlscale/ itself, shipped to Ray Client sessions and Ray Jobs as py_modules
_PACKAGE_DIR = Path(__file__).resolve().parents[2]

_PREDICTOR_CPUS = 0.5
_ACTOR_START_TIMEOUT_S = 120

AUTH_HINT = (
    "the cluster uses token authentication: export RAY_AUTH_MODE=token and the cluster's token as "
    "RAY_AUTH_TOKEN (or in ~/.ray/auth_token, or a file named by RAY_AUTH_TOKEN_PATH)"
)


def _token_available() -> bool:
    if os.environ.get("RAY_AUTH_TOKEN"):
        return True
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or str(Path.home() / ".ray" / "auth_token")
    return Path(path).is_file()


def _token_mode_if_available() -> None:
    """Present the token to a cluster when one is at hand and RAY_AUTH_MODE is unset.

    Ray turns token mode on by itself only for `auto`, never for an explicit address; and it reads
    RAY_AUTH_MODE into a config cached at import, so setting the variable alone was not enough (measured:
    InvalidAuthToken with the token in RAY_AUTH_TOKEN_PATH). Refresh the cache as Ray's own switch does."""
    if os.environ.get("RAY_AUTH_MODE") is not None or not _token_available():
        return
    os.environ["RAY_AUTH_MODE"] = "token"
    try:
        from ray._raylet import Config

        Config.initialize("")
    except Exception:  # a Ray without this cache: the variable is all it reads
        log.debug("ray: could not refresh Ray's config after enabling token mode", exc_info=True)


class RayEngine:
    name = "ray"

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._owns_connection = False
        self._cluster: ClusterInfo | None = None
        self._node_cpus: list[float] = []

    # -- connection --------------------------------------------------------------------
    def start(self) -> ClusterInfo:
        import ray

        address = self.config.address
        if not log.isEnabledFor(logging.DEBUG):  # Ray's chatter stays out of the terminal unless --verbose
            os.environ.setdefault("RAY_DATA_LOG_LEVEL", "WARNING")
            os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
            os.environ.setdefault("RAY_DEDUP_LOGS", "1")
            os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")
            for name in ("ray", "ray.data", "ray.tune", "ray.train"):
                logging.getLogger(name).setLevel(logging.WARNING)
        if ray.is_initialized():  # a notebook's own connection: use it, never shut it down
            log.info("ray: using the existing Ray connection")
        else:
            if address:
                _token_mode_if_available()
            kwargs: dict[str, Any] = {
                "logging_level": logging.WARNING,
                "log_to_driver": log.isEnabledFor(logging.DEBUG),
                "configure_logging": True,
            }
            if address is None:
                kwargs.update(
                    address="local",
                    num_cpus=os.cpu_count(),
                    include_dashboard=self.config.dashboard,
                    dashboard_host="127.0.0.1",
                    _node_ip_address="127.0.0.1",
                )
            else:
                kwargs["address"] = address
                kwargs["runtime_env"] = {"env_vars": {"PYTHONWARNINGS": "ignore"}}
                if address.startswith("ray://"):
                    kwargs["runtime_env"]["py_modules"] = [str(_PACKAGE_DIR)]
            if address is not None:
                _probe(address)
            try:
                with _loopback_only() if address is None else contextlib.nullcontext():
                    ray.init(**kwargs)
            except Exception as exc:
                raise EngineError(self._connect_message(address, exc)) from exc
            self._owns_connection = True
        resources = ray.cluster_resources()
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        # Nodes without CPUs (a KubeRay head with num-cpus 0) run no workers, trials or predictors.
        cpus = (float(n["Resources"].get("CPU", 0)) for n in nodes)
        self._node_cpus = sorted((c for c in cpus if c > 0), reverse=True)
        self._cluster = ClusterInfo(
            engine="ray",
            nodes=len(nodes),
            cpus=float(resources.get("CPU", 0)),
            gpus=float(resources.get("GPU", 0)),
            ray_version=ray.__version__,
            address=address or "local",
            started_here=address is None,
        )
        try:
            w, c = self._layout()
            self._cluster.layout = f"{w} worker(s) x {c:g} CPU ({self._trainer()})"
        except RecipeError:  # reported by plan(), which the runner asks before any work starts
            self._cluster.layout = "does not fit the cluster"
        log.info(
            "ray %s: %d node(s), %g CPU, %g GPU at %s",
            ray.__version__,
            len(nodes),
            self._cluster.cpus,
            self._cluster.gpus,
            self._cluster.address,
        )
        return self._cluster

    def _connect_message(self, address: str | None, exc: BaseException) -> str:
        text, auth = _describe(exc)
        where = address or "a new local instance"
        if auth:
            return f"ray: cannot connect to {where}: {AUTH_HINT} ({text})"
        hint = "" if os.environ.get("RAY_AUTH_MODE") == "token" else f"; if {AUTH_HINT}"
        return (
            f"ray: cannot connect to {where} ({text}); check engine.address and that the cluster is up{hint}"
        )

    def stop(self) -> None:
        if self._owns_connection:
            import ray

            ray.shutdown()
            self._owns_connection = False

    # -- plan --------------------------------------------------------------------------
    def plan(self, train: TrainConfig, tune: TuneConfig | None, predict: PredictConfig | None) -> EnginePlan:
        """Check the recipe against the cluster's resources: refuse what could never be scheduled."""
        plan = EnginePlan()
        node_cpus = self._node_cpus or [float(os.cpu_count() or 1)]
        total_cpus = sum(node_cpus)
        total_gpus = self._cluster.gpus if self._cluster else float(_visible_gpus())
        where = self._cluster.address if self._cluster else "a new local Ray instance"
        shape = f"{len(node_cpus)} node(s), {total_cpus:g} CPU, {total_gpus:g} GPU"
        plan.steps.append(("cluster", f"{where}: {shape}"))
        gpus = self.config.gpus_per_worker
        try:
            workers, cpus = self._layout()
        except RecipeError as exc:
            plan.problems.append(str(exc))
            workers, cpus = self.config.workers, float(self.config.cpus_per_worker or 1)
        device = "cuda" if gpus else "cpu"
        plan.steps.append(
            (
                "train",
                f"{workers} worker(s) x {cpus:g} CPU{f' + {gpus:g} GPU' if gpus else ''} "
                f"on {device} ({self._trainer()})",
            )
        )
        if gpus and workers * gpus > total_gpus:
            plan.problems.append(
                f"engine.gpus_per_worker={gpus:g} x {workers} worker(s) needs {workers * gpus:g} GPU, "
                f"the cluster has {total_gpus:g}"
            )
        if tune is not None:
            per_trial = float(self.config.cpus_per_worker or 1)
            if per_trial > max(node_cpus):
                plan.problems.append(
                    f"engine.cpus_per_worker={per_trial:g}: a tune trial needs {per_trial:g} CPU on one node, "
                    f"the largest node has {max(node_cpus):g}"
                )
            fit_at_once = max(1, int(total_cpus // per_trial))
            concurrent = min(tune.max_concurrent or fit_at_once, tune.num_samples)
            if concurrent > fit_at_once:
                plan.notes.append(
                    f"tune.max_concurrent={concurrent}: only {fit_at_once} trial(s) of {per_trial:g} CPU fit at once"
                )
            asha = f", ASHA after {tune.grace_period} rounds" if tune.scheduler == "asha" else ""
            plan.steps.append(
                (
                    "tune",
                    f"{tune.num_samples} trials x {per_trial:g} CPU, {min(concurrent, fit_at_once)} at a "
                    f"time ({tune.algorithm}{asha})",
                )
            )
        if predict is not None and self._client_mode():
            plan.steps.append(
                ("predict", f"in this process over Ray Client, batches of {predict.batch_size} rows")
            )
        elif predict is not None:
            plan.steps.append(
                (
                    "predict",
                    f"{len(node_cpus)} actor(s) x {_PREDICTOR_CPUS:g} CPU, one per node; "
                    f"batches of {predict.batch_size} rows",
                )
            )
            if min(node_cpus) < _PREDICTOR_CPUS:
                plan.problems.append(
                    f"predict: every node needs {_PREDICTOR_CPUS:g} free CPU for an inference actor, "
                    f"the smallest has {min(node_cpus):g}"
                )
        if self._cluster is not None and not self._cluster.started_here:
            import ray

            free = float(ray.available_resources().get("CPU", 0))
            if free < min(total_cpus, workers * cpus):
                plan.notes.append(
                    f"the cluster is busy: {free:g} of {total_cpus:g} CPU free now; the run waits for resources"
                )
        return plan

    def _client_mode(self) -> bool:
        return (self.config.address or "").startswith("ray://")

    # -- layout ------------------------------------------------------------------------
    def _trainer(self) -> str:
        if self.config.trainer != "auto":
            return self.config.trainer
        return "ray_train" if self.config.max_failures > 0 else "actors"

    def _layout(self) -> tuple[int, float]:
        """(workers, cpus per worker) from the recipe and the cluster's shape.

        xgboost threads within a node beat splitting a node into workers (each shard pays a
        conversion and a collective step), so unless cpus_per_worker is given, a node gets at
        most one worker using all its CPUs.
        """
        requested = self.config.workers
        node_cpus = self._node_cpus or [float(os.cpu_count() or 1)]
        if self.config.cpus_per_worker is not None:
            cpus = float(self.config.cpus_per_worker)
            fit = sum(int(c // cpus) for c in node_cpus)
            if fit < requested:
                raise RecipeError(
                    f"engine.workers={requested} x engine.cpus_per_worker={cpus:g} does not fit the cluster "
                    f"({len(node_cpus)} node(s) with {', '.join(f'{c:g}' for c in node_cpus)} CPU)"
                )
            return requested, cpus
        if requested > sum(node_cpus):
            raise RecipeError(
                f"engine.workers={requested} is more than the cluster's {sum(node_cpus):g} CPU "
                f"({len(node_cpus)} node(s)); ask for at most {int(sum(node_cpus))}"
            )
        workers = min(requested, len(node_cpus))
        if workers < requested:
            log.info(
                "ray: engine.workers=%d on %d node(s): using %d worker(s), one per node with all its CPUs",
                requested,
                len(node_cpus),
                workers,
            )
        cpus = min(node_cpus[:workers])
        if self._trainer() == "ray_train":
            # Ray Data feeds Ray Train workers with tasks of its own: workers holding every CPU starve
            # them (measured: a hang at 0 rows). Leave half a CPU per node; xgboost threads are set apart.
            cpus = max(0.5, cpus - 0.5)
        return workers, cpus

    # -- train -------------------------------------------------------------------------
    def train(self, data: Dataset, train: TrainConfig, *, progress: OnProgress | None = None) -> TrainResult:
        workers, cpus = self._layout()
        device = "cuda" if self.config.gpus_per_worker > 0 else None
        threads = max(1, round(min(self._node_cpus[:workers] or [cpus])))
        params = xgb_params(train, data.schema, nthread=threads, device=device)
        files = self._readable_files(data)
        if self._trainer() == "ray_train":
            return self._train_ray_train(data, train, params, workers, cpus, progress, files)
        return self._train_actors(data, train, params, workers, cpus, progress, files)

    def _readable_files(self, data: Dataset) -> SourceFiles | None:
        """The file source when workers should read their own train shard with Ray Data, else None.

        auto: only on a multi-node cluster. On one node the object store is local shared memory (1M rows:
        0.06 s to put) while a Ray Data pipeline starts its own actors and workers (~7 s more per fit on
        2 cores, benchmarks/read_bench.py); across nodes, shipping from the driver crosses its network link.
        """
        mode = self.config.train_data
        if data.files is None or mode == "object_store" or not len(data.files.train_rows):
            return None
        if self._client_mode():
            if mode == "ray_data":
                raise EngineError("ray: engine.train_data ray_data cannot run over Ray Client (ray://)")
            return None
        missing, nodes = _nodes_missing(data.files.paths[0])
        if mode == "auto" and nodes < 2:
            return None
        if missing:
            message = f"{missing} of {nodes} nodes cannot see {data.files.paths[0]}"
            if mode == "ray_data":
                raise EngineError(
                    f"ray: engine.train_data ray_data: {message}; use storage every node mounts"
                )
            log.info("train: %s; the driver ships the train split to the workers", message)
            return None
        log.info(
            "train: each worker reads its train shard of %d file(s) with Ray Data", len(data.files.paths)
        )
        return data.files

    def _train_actors(
        self,
        data: Dataset,
        train: TrainConfig,
        params: dict[str, Any],
        workers: int,
        cpus: float,
        progress: OnProgress | None,
        files: SourceFiles | None,
    ) -> TrainResult:
        import ray
        from ray.util.placement_group import placement_group, remove_placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        if files is not None:  # Ray Data read tasks need a CPU share beside the workers (else: a hang)
            cpus = max(0.5, cpus - _READ_CPUS)
        bundle = {
            "CPU": cpus,
            **({"GPU": self.config.gpus_per_worker} if self.config.gpus_per_worker else {}),
        }
        strategy = "STRICT_SPREAD" if workers <= len(self._node_cpus) else "SPREAD"
        pg = placement_group([bundle] * workers, strategy=strategy)
        try:
            ready, _ = ray.wait([pg.ready()], timeout=60)
            if not ready:
                raise EngineError(
                    f"ray: could not reserve {workers} x {bundle} within 60 s; is the cluster busy?"
                )
            actors = [
                _XgbWorker.options(  # type: ignore[attr-defined]
                    num_cpus=cpus,
                    num_gpus=self.config.gpus_per_worker or None,
                    scheduling_strategy=PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=i),
                    max_concurrency=2,  # fit in one thread, progress() answers in the other
                ).remote()
                for i in range(workers)
            ]
            tracker_args: dict[str, Any] = {}
            tracker = None
            if workers > 1:
                tracker = _Tracker.options(num_cpus=0).remote(workers)  # type: ignore[attr-defined]
                tracker_args = ray.get(tracker.args.remote())
            shards = _shards(data, workers, with_train=files is None)
            readers = _train_readers(files, data.schema, workers) if files is not None else [None] * workers
            fits = [
                actor.fit.remote(
                    rank,
                    tracker_args,
                    params,
                    shard,
                    data.schema.to_dict(),
                    train.num_boost_round,
                    train.early_stopping_rounds,
                    reader,
                )
                for rank, (actor, shard, reader) in enumerate(zip(actors, shards, readers, strict=True))
            ]
            try:
                results = _await_fits(fits, actors[0], train.num_boost_round, progress)
            except ray.exceptions.RayError as exc:
                raise EngineError(
                    f"ray: a training worker failed ({_first_line(exc)}); set engine.max_failures > 0 "
                    "to retry from checkpoints with Ray Train"
                ) from exc
            if tracker is not None:
                with contextlib.suppress(Exception):
                    ray.get(tracker.wait.remote(), timeout=10)
            for actor in actors:
                ray.kill(actor)
        finally:
            remove_placement_group(pg)
        raw, history, rounds = results[0]["model"], results[0]["history"], results[0]["rounds"]
        _final_round(progress, rounds, train.num_boost_round, history)
        model = Model.from_bytes(raw, {"schema": data.schema.to_dict(), "info": {"rounds": rounds}})
        placement = [
            {"rank": r["rank"], "node": r["node"], "pid": r["pid"], "rows": r["rows"]} for r in results
        ]
        return TrainResult(
            model=model,
            history=history,
            rounds=rounds,
            placement=placement,
            details={
                "trainer": "actors",
                "workers": workers,
                "cpus_per_worker": cpus,
                "data": "ray_data" if files is not None else "object_store",
            },
        )

    def _train_ray_train(
        self,
        data: Dataset,
        train: TrainConfig,
        params: dict[str, Any],
        workers: int,
        cpus: float,
        progress: OnProgress | None,
        files: SourceFiles | None,
    ) -> TrainResult:
        import ray
        import ray.data
        from ray.train import CheckpointConfig, DataConfig, FailureConfig, RunConfig, ScalingConfig
        from ray.train.xgboost import XGBoostTrainer

        valid_frame = data.x_valid.assign(__label=data.y_valid)
        datasets: dict[str, Any] = {"valid": ray.data.from_pandas(valid_frame)}
        if files is None:
            datasets["train"] = ray.data.from_pandas(data.x_train.assign(__label=data.y_train))
        else:  # one dataset per rank, each reading only its own rows: not split again by Ray Train
            datasets.update(
                {f"train_{r}": ds for r, ds in enumerate(_train_readers(files, data.schema, workers))}
            )
        counter = _Counter.options(num_cpus=0).remote()  # type: ignore[attr-defined]
        storage = self.config.storage_path or str(rules.state_home() / "ray_train")
        self._check_shared_storage(storage)
        trainer = XGBoostTrainer(
            _ray_train_loop,
            train_loop_config={
                "params": params,
                "schema": data.schema.to_dict(),
                "rounds": train.num_boost_round,
                "early_stopping_rounds": train.early_stopping_rounds,
                "report_every": self.config.report_every,
                "counter": counter,
                "progress": progress is not None,
                "train_per_rank": files is not None,
            },
            scaling_config=ScalingConfig(
                num_workers=workers,
                resources_per_worker={
                    "CPU": cpus,
                    **({"GPU": self.config.gpus_per_worker} if self.config.gpus_per_worker else {}),
                },
                placement_strategy="SPREAD",
            ),
            run_config=RunConfig(
                name=f"mlscale-{uuid.uuid4().hex[:8]}",
                storage_path=storage,
                failure_config=FailureConfig(max_failures=self.config.max_failures),
                checkpoint_config=CheckpointConfig(num_to_keep=2),
            ),
            datasets=datasets,
            dataset_config=DataConfig(datasets_to_split=["train", "valid"] if files is None else ["valid"]),
        )
        try:
            with _polled_rounds(counter, train.num_boost_round, progress):
                result = trainer.fit()
        except Exception as exc:
            raise EngineError(f"ray: Ray Train failed ({_first_line(exc)})") from exc
        if result.checkpoint is None:
            raise EngineError("ray: Ray Train finished without a checkpoint")
        booster = _load_checkpoint(result.checkpoint)
        starts, placement, history = ray.get(counter.summary.remote())
        ray.kill(counter)
        rounds = int(result.metrics.get("rounds", booster.num_boosted_rounds()))
        _final_round(progress, rounds, train.num_boost_round, history or {})
        best = int(result.metrics.get("best_rounds", booster.num_boosted_rounds()))
        if best < booster.num_boosted_rounds():
            booster = booster[:best]
        model = Model(booster, data.schema, info={"rounds": booster.num_boosted_rounds()})
        return TrainResult(
            model=model,
            history=history or {},
            rounds=rounds,
            placement=placement,
            failures=max(0, starts - 1),
            details={
                "trainer": "ray_train",
                "workers": workers,
                "cpus_per_worker": cpus,
                "data": "ray_data" if files is not None else "object_store",
                "checkpoint": str(result.checkpoint.path),
            },
        )

    def _check_shared_storage(self, storage: str) -> None:
        """Ray Train restores checkpoints on any node: a local path must be the same directory everywhere.

        Probed, not assumed: the driver writes a marker and a zero-CPU task on every node looks for it.
        URIs (s3://, gs://, ...) are left to Ray.
        """
        if "://" in storage:
            return
        where = "engine.storage_path" if self.config.storage_path else f"the default checkpoint dir {storage}"
        marker = Path(storage) / f".mlscale-probe-{uuid.uuid4().hex[:12]}"
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text("probe")
            missing, nodes = _nodes_missing(str(marker))
        except OSError as exc:
            raise EngineError(f"ray: cannot write Ray Train checkpoints to {where} ({exc})") from exc
        finally:
            marker.unlink(missing_ok=True)
        if missing:
            raise EngineError(
                f"ray: {where} is not shared: {missing} of {nodes} nodes cannot see it; set "
                "engine.storage_path to storage every node mounts (NFS) or a URI such as s3://bucket/path"
            )

    # -- tune --------------------------------------------------------------------------
    def tune(
        self,
        data: Dataset,
        train: TrainConfig,
        tune: TuneConfig,
        *,
        on_trial: OnTrial,
        state_dir: Path,
        resume: bool = False,
    ) -> TuneResult:
        import ray
        from ray import tune as rtune
        from ray.tune.schedulers import ASHAScheduler
        from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter

        metric, mode = rules.tune_objective(tune, data.schema.task)
        cpus_per_trial = float(self.config.cpus_per_worker or 1)
        total = self._cluster.cpus if self._cluster else float(os.cpu_count() or 1)
        basis = total
        if self._cluster is not None and not self._cluster.started_here:
            # A shared cluster: as many trials as its free CPUs take now (more would only queue). When
            # none are free yet, size for the whole cluster: Tune starts trials as CPUs come free.
            free = float(ray.available_resources().get("CPU", 0))
            basis = free if free >= cpus_per_trial else total
        concurrent = tune.max_concurrent or max(1, int(basis // cpus_per_trial))
        log.info("tune: up to %d trial(s) at once (%g of %g CPU free)", concurrent, basis, total)
        space = {name: _ray_dim(dim) for name, dim in tune.space.items()}
        store = _ModelStore.options(num_cpus=0).remote()  # type: ignore[attr-defined]
        if tune.algorithm == "tpe":
            import optuna
            from ray.tune.search.optuna import OptunaSearch

            optuna.logging.set_verbosity(optuna.logging.WARNING)

            search: Any = ConcurrencyLimiter(OptunaSearch(seed=tune.seed), max_concurrent=concurrent)
        else:
            search = BasicVariantGenerator(random_state=tune.seed, max_concurrent=concurrent)
        scheduler = (
            ASHAScheduler(
                time_attr="rounds",  # reports come every few rounds: the grace period stays in rounds
                grace_period=tune.grace_period,
                max_t=train.num_boost_round,
                reduction_factor=3,
            )
            if tune.scheduler == "asha"
            else None
        )
        trainable = rtune.with_resources(
            rtune.with_parameters(
                _tune_trial,
                data=(data.x_train, data.y_train, data.x_valid, data.y_valid),
                settings={
                    "train": train.model_dump(mode="json"),
                    "schema": data.schema.to_dict(),
                    "metric": metric,
                    "asha": tune.scheduler == "asha",
                    # each report is a round trip to the Tune driver (~10 ms here): about 5 per grace period
                    "report_every": max(1, tune.grace_period // 5),
                    "cache_key": uuid.uuid4().hex,
                    "nthread": max(1, int(cpus_per_trial)),
                    "store": store,
                },
            ),
            {"cpu": cpus_per_trial},
        )
        state_dir.mkdir(parents=True, exist_ok=True)
        path = state_dir / "ray"
        callback = _TrialCallback(on_trial, metric, data, store, state_dir)
        # Tune saves its experiment state at most every 10 s ("auto"): a trial that finished (and was logged)
        # less than that before a kill was restored as unfinished and ran again (measured: 8 of 8 trials run
        # after --resume, 2 of them already done). Save every second instead; the state is a small file here.
        os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "1")
        fit_started = time.time()
        if resume and rtune.Tuner.can_restore(str(path)):
            log.info("tune: restoring the interrupted Ray Tune experiment at %s", path)
            tuner = rtune.Tuner.restore(str(path), trainable, resume_unfinished=True, restart_errored=True)
        else:
            run_config = rtune.RunConfig(
                name="ray", storage_path=str(state_dir), verbose=0, callbacks=[callback]
            )
            tuner = rtune.Tuner(
                trainable,
                param_space=space,
                tune_config=rtune.TuneConfig(
                    metric=metric,
                    mode=mode,
                    num_samples=tune.num_samples,
                    search_alg=search,
                    scheduler=scheduler,
                    max_concurrent_trials=None,  # the search algorithm limits concurrency
                    reuse_actors=True,
                ),
                run_config=run_config,
            )
        # Tune's own Ctrl-C handler ends the experiment quietly and returns as if it had finished; the
        # run would then be logged FINISHED with missing trials. Let Ctrl-C raise (the run is marked
        # KILLED); the experiment state Tune saves as it goes still lets `--resume` continue it.
        os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
        try:
            grid = tuner.fit()
        except Exception as exc:
            raise EngineError(f"ray: tuning failed ({_first_line(exc)})") from exc
        trials = callback.results
        seen = {t.trial_id for t in trials}
        for r in grid:  # trials finished before an interruption (restored), logged now
            trial_id = str(r.metrics.get("trial_id", "")) if r.metrics else ""
            if not trial_id or trial_id in seen:
                continue
            saved = state_dir / "models" / trial_id
            model = Model.load_saved(saved)
            raw = ray.get(store.get.remote(trial_id)) if model is None else None
            if raw:  # a trial run after a restore (the restored callback is a no-op)
                model = Model.from_bytes(raw, {"schema": data.schema.to_dict(), "info": {}})
            done = TrialResult(
                trial_id=trial_id,
                number=len(trials),
                params={k: _plain(v) for k, v in (r.config or {}).items()},
                metric=float(r.metrics.get(metric, float("nan"))),
                metrics={k: float(v) for k, v in r.metrics.items() if k.startswith("valid_")},
                seconds=float(r.metrics.get("fit_s", 0.0)),
                rounds=int(r.metrics.get("rounds", 0)),
                status="completed" if r.metrics.get("final") else ("failed" if r.error else "pruned"),
                model=model,
            )
            trials.append(done)
            on_trial(done)
        errors = [r.error for r in grid if r.error]
        best = rules.best_trial(trials, mode, engine="ray", error=_first_line(errors[0]) if errors else None)
        best_model = best.model
        if best_model is None:
            raise EngineError(f"ray: the best trial's model ({best.trial_id}) was lost")
        ray.kill(store)
        return TuneResult(
            trials=trials,
            best=best,
            best_model=best_model,
            metric=metric,
            mode=mode,
            details={
                "max_concurrent": concurrent,
                "cpus_per_trial": cpus_per_trial,
                "path": str(path),
                # A trial's last result is stamped when it reported (Tune's `timestamp`, whole seconds):
                # one restored from before the interruption predates this fit, one run now does not.
                "trials_restored": sum(
                    1 for r in grid if r.metrics and float(r.metrics.get("timestamp", 0)) < int(fit_started)
                ),
            },
        )

    # -- predict -----------------------------------------------------------------------
    def _predictor_placement(self, pool: int) -> tuple[Any, Any]:
        """One predictor per node, guaranteed: SPREAD alone is best effort and 0.5-CPU actors can pack."""
        if pool < 2:
            return None, "SPREAD"
        import ray
        from ray.util.placement_group import placement_group, remove_placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        pg = placement_group([{"CPU": _PREDICTOR_CPUS}] * pool, strategy="STRICT_SPREAD")
        ready, _ = ray.wait([pg.ready()], timeout=_ACTOR_START_TIMEOUT_S)
        if not ready:
            remove_placement_group(pg)
            raise EngineError(
                f"ray: could not reserve {_PREDICTOR_CPUS} CPU on each of {pool} nodes for inference "
                f"within {_ACTOR_START_TIMEOUT_S} s; is the cluster busy?"
            )
        return pg, PlacementGroupSchedulingStrategy(pg, placement_group_capture_child_tasks=False)

    def predict(
        self,
        model: Model,
        predict: PredictConfig,
        *,
        data: Dataset | None,
        where: str,
        progress: OnProgress | None = None,
    ) -> PredictResult:
        test_frame = None if data is None else data.test_frame
        total = input_rows(predict, test_frame=test_frame, where=where) if progress else None
        if self._client_mode():
            # Ray Data cannot run over Ray Client ('Worker' object has no attribute 'core_worker',
            # ray-project/ray#48682): stream in this process instead, reading and writing local paths.
            log.info("predict: Ray Client (ray://) cannot run Ray Data; predicting in this process")
            frames = input_frames(predict, test_frame=test_frame, where=where)
            return predict_stream(model, predict, frames, where=where, progress=progress, total=total)
        import ray.data

        started = time.perf_counter()
        node_cpus = self._node_cpus or [1.0]
        pool = max(1, len(node_cpus))
        if predict.input is None:
            if data is None or len(data.test_frame) == 0:
                from mlscale.errors import DataError

                raise DataError(f"{where}.input: no input given and the recipe has no test split to predict")
            ds = ray.data.from_pandas(data.test_frame)
        else:
            # Our own per-file read tasks with fractional CPUs: Ray Data's file listing wants a whole CPU,
            # which actors holding CPUs on every node can starve forever (measured: a hang at 0 rows).
            files = resolve_files(predict.input, where=f"{where}.input")
            # One block per file: from_items packs small lists into one block, and one task then read
            # every file in turn (measured, 2M rows in 8 files: 10.4 s to stream them, 3.2 s this way).
            ds = ray.data.from_items(
                [{"path": f} for f in files], override_num_blocks=len(files)
            ).map_batches(
                _read_files,
                fn_kwargs={"fmt": file_format(files), "batch_size": predict.batch_size},
                batch_size=1,
                num_cpus=0.25,
                batch_format="pandas",
            )
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True  # same row order as the input, like `local`
        ctx.enable_progress_bars = log.isEnabledFor(logging.DEBUG)
        ctx.print_on_execution_start = log.isEnabledFor(logging.DEBUG)
        # All actors up before the first batch: otherwise the first actor to start takes every batch
        # of a small input, and a pool that cannot be placed fails with an error instead of waiting.
        ctx.wait_for_min_actors_s = _ACTOR_START_TIMEOUT_S
        raw, meta = model.to_bytes()
        pg, strategy = self._predictor_placement(pool)
        nodes: dict[str, int] = {}
        unseen: dict[str, int] = {}
        try:
            predicted = ds.map_batches(
                _Predictor,
                fn_constructor_kwargs={
                    "raw": raw,
                    "meta": meta,
                    "id_columns": list(predict.id_columns),
                    "nthread": max(1, int(min(node_cpus))),
                },
                compute=ray.data.ActorPoolStrategy(size=pool),
                num_cpus=_PREDICTOR_CPUS,  # fractional: read tasks always find a CPU beside the actors
                max_restarts=0,  # a rerun is cheap and the output is atomic; no restart of a stale model
                scheduling_strategy=strategy,
                batch_size=predict.batch_size,
                batch_format="pandas",
            )
            with AtomicTableWriter(predict.output, predict.resolved_format) as writer:
                if progress is not None:
                    progress("rows", {"done": 0, "total": total})
                for batch in predicted.iter_batches(batch_format="pandas", batch_size=None):
                    for node, rows in batch["__node"].value_counts().items():
                        nodes[str(node)] = nodes.get(str(node), 0) + int(rows)
                    # One JSON per actor batch, "" elsewhere: filter, no Python loop over every row
                    # (that loop was 4.6 of 18 s of driver time for 2M rows).
                    texts = batch["__unseen"]
                    for text in texts[texts.str.len() > 0]:
                        for col, n in json.loads(text).items():
                            unseen[col] = unseen.get(col, 0) + n
                    writer.write(_plain_dtypes(batch.drop(columns=["__node", "__unseen"])))
                    if progress is not None:
                        progress("rows", {"done": writer.rows, "total": total})
        except ray.exceptions.GetTimeoutError as exc:
            raise EngineError(
                f"ray: {pool} inference actors ({_PREDICTOR_CPUS} CPU each) did not start within "
                f"{_ACTOR_START_TIMEOUT_S} s; is the cluster busy?"
            ) from exc
        except Exception as exc:
            raise _unwrap_data_error(exc) from exc
        finally:
            if pg is not None:
                from ray.util.placement_group import remove_placement_group

                remove_placement_group(pg)
        return PredictResult(
            output=Path(predict.output),
            rows=writer.rows,
            seconds=time.perf_counter() - started,
            unseen_categories=unseen,
            placement=[{"node": n, "rows": r} for n, r in sorted(nodes.items())],
        )


@contextlib.contextmanager
def _loopback_only() -> Any:
    """Keep every listener of a private Ray instance on 127.0.0.1.

    `ray.init(_node_ip_address="127.0.0.1")` alone does not: Ray swaps a loopback node address for the
    machine's external one, and its agents then listen there and on 0.0.0.0 (measured, ray 2.60, with
    `ss -ltnp`). Ray keeps loopback only where it treats the machine as unable to cluster
    (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, read at import and by the processes it starts); with it, every
    listener of the instance was on 127.0.0.1. Restored afterwards, so a later connection to a real
    cluster from this process is unaffected.
    """
    from ray._private import ray_constants

    env_key = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
    old_env, old_flag = os.environ.get(env_key), getattr(ray_constants, "ENABLE_RAY_CLUSTER", None)
    os.environ[env_key] = "0"
    if old_flag is not None:
        ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        if old_env is None:
            os.environ.pop(env_key, None)
        else:
            os.environ[env_key] = old_env
        if old_flag is not None:
            ray_constants.ENABLE_RAY_CLUSTER = old_flag


def submit_job(
    *,
    address: str,
    entrypoint: str,
    working_dir: Path,
    env_vars: dict[str, str],
    pip: list[str] | None,
    wait: bool,
    on_log: Callable[[str], None],
) -> tuple[str, str]:
    """Submit a Ray Job through the dashboard's Jobs API; with `wait`, stream its logs to the end.

    Returns (job id, final status). Ctrl-C while waiting stops the job before re-raising.
    """
    _token_mode_if_available()  # the Jobs client sends the token as an HTTP header
    from ray.job_submission import JobSubmissionClient

    try:
        client = JobSubmissionClient(address)
        runtime_env: dict[str, Any] = {
            "working_dir": str(working_dir),
            "py_modules": [str(_PACKAGE_DIR)],  # the submitter's mlscale, same version
            "env_vars": env_vars,
        }
        if pip:
            runtime_env["pip"] = pip
        job_id = client.submit_job(
            entrypoint=entrypoint, runtime_env=runtime_env, submission_id=f"mlscale-{uuid.uuid4().hex[:12]}"
        )
    except Exception as exc:
        raise EngineError(_jobs_message(address, exc)) from exc
    log.info("ray job %s submitted to %s", job_id, address)
    if not wait:
        return job_id, "PENDING"
    printed = 0
    try:
        while True:
            status = client.get_job_status(job_id)
            text = client.get_job_logs(job_id)
            if len(text) > printed:
                on_log(text[printed:])
                printed = len(text)
            if status.is_terminal():
                return job_id, str(status.value)
            time.sleep(1.0)
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            client.stop_job(job_id)
        raise


def _probe(address: str, timeout: float = 5.0) -> None:
    """Fail in seconds on a host:port where nothing listens: ray.init retries such an address for minutes
    (measured: still retrying after 5 min, Ray's C++ warnings on the terminal). `auto` finds its own."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # `auto`, or a form Ray resolves itself
    import socket

    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise EngineError(
            f"ray: cannot connect to {address} (nothing answers there: {exc.strerror or exc}); "
            "check engine.address and that the cluster is up"
        ) from exc


def _describe(exc: BaseException) -> tuple[str, bool]:
    """(first line of the error, whether it is about authentication): both connect paths use it."""
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:300]
    return text, "auth" in text.lower() or "token" in text.lower()


def _jobs_message(address: str, exc: BaseException) -> str:
    text, auth = _describe(exc)
    if auth:
        return f"ray jobs: {address} refused the request: {AUTH_HINT} ({text})"
    return (
        f"ray jobs: cannot submit to {address} ({text}); is the dashboard up (ray start --include-dashboard)?"
    )


def _visible_gpus() -> int:
    """GPUs a new local Ray instance would see (what Ray's own detection counts: nvidia-smi)."""
    import shutil
    import subprocess

    if os.environ.get("CUDA_VISIBLE_DEVICES") is not None:
        return len([d for d in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if d.strip()])
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


# -- remote pieces (module-level so workers import them by name) ------------------------------
_THREADS_SET = threading.local()


def _use_threads(n: int) -> None:
    """Let xgboost use the `n` threads its params ask for, in this thread.

    Ray sets OMP_NUM_THREADS to a worker's whole CPUs (1 for 0.5 or 1.75 CPU) and xgboost caps nthread by
    OpenMP's limit: measured 1 thread instead of 2 at 1.75 CPU, a fit 1.65x slower. Reserving fractional
    CPUs leaves room for Ray Data's tasks; it must not also cost xgboost its threads."""
    if getattr(_THREADS_SET, "n", None) == n:
        return
    import xgboost  # noqa: F401  (loads the OpenMP runtime that xgboost uses)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=max(1, n), user_api="openmp")
    _THREADS_SET.n = n


def _remote(cls: Any) -> Any:
    import ray

    return ray.remote(cls)


def _node_id() -> str:
    import ray

    return ray.get_runtime_context().get_node_id()


class _XgbWorkerImpl:
    """One xgboost worker: builds its shard's DMatrix and joins the collective ring."""

    def __init__(self) -> None:
        self.latest: tuple[int, dict[str, float]] = (0, {})

    def progress(self) -> tuple[int, dict[str, float]]:
        """(rounds done, latest valid metrics): asked by the driver while fit runs in the other thread."""
        return self.latest

    def _seen(self, rounds: int, metrics: dict[str, float]) -> None:
        self.latest = (rounds, metrics)

    def fit(
        self,
        rank: int,
        tracker_args: dict[str, Any],
        params: dict[str, Any],
        shard: tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray],
        schema: dict[str, Any],
        rounds: int,
        early_stopping_rounds: int | None,
        reader: Any = None,
    ) -> dict[str, Any]:
        import xgboost as xgb

        x, y, xv, yv = shard
        _use_threads(int(params.get("nthread") or 1))
        if reader is not None:  # this worker's train rows, read from the source files with Ray Data
            x, y = _shard_frame(reader, FeatureSchema.from_dict(schema), "train")
        nthread = int(params.get("nthread") or 1)
        context = (
            xgb.collective.CommunicatorContext(**tracker_args) if tracker_args else contextlib.nullcontext()
        )
        with context:
            dtrain, dvalid = quantile_pair(
                x, y, xv, yv, nthread=nthread, max_bin=int(params.get("max_bin", 256))
            )
            booster, history, done = fit(
                params,
                dtrain,
                dvalid,
                num_boost_round=rounds,
                early_stopping_rounds=early_stopping_rounds,
                with_train_curve=len(x) <= 250_000,
                callbacks=[round_callback(self._seen)] if rank == 0 else [],
            )
        return {
            "rank": rank,
            "node": _node_id(),
            "pid": os.getpid(),
            "rows": len(x),
            "model": bytes(booster.save_raw("ubj")) if rank == 0 else b"",
            "history": history,
            "rounds": done,
        }


class _TrackerImpl:
    """xgboost's RabitTracker, hosted on the cluster so workers reach it on the node's own address."""

    def __init__(self, n_workers: int) -> None:
        import ray
        from xgboost.tracker import RabitTracker

        self.tracker = RabitTracker(n_workers=n_workers, host_ip=ray.util.get_node_ip_address(), port=0)
        self.tracker.start()

    def args(self) -> dict[str, Any]:
        return dict(self.tracker.worker_args())

    def wait(self) -> None:
        self.tracker.wait_for(timeout=10)


class _ModelStoreImpl:
    """Trial models by trial id: lives beside the driver, so trials need no shared storage."""

    def __init__(self) -> None:
        self.models: dict[str, bytes] = {}

    def put(self, key: str, raw: bytes) -> None:
        self.models[key] = raw

    def get(self, key: str) -> bytes | None:
        return self.models.get(key)


class _CounterImpl:
    """Counts Ray Train loop starts (restarts = failures) and keeps placement and curves."""

    def __init__(self) -> None:
        self.starts = 0
        self.latest: tuple[int, dict[str, float]] = (0, {})
        self.placement: dict[int, dict[str, Any]] = {}
        self.history: dict[str, Any] = {}

    def started(self, rank: int, node: str, pid: int, resumed_from: int) -> None:
        if rank == 0:
            self.starts += 1
        self.placement[rank] = {"rank": rank, "node": node, "pid": pid, "resumed_from_round": resumed_from}

    def set_history(self, history: dict[str, Any]) -> None:
        self.history = history

    def seen(self, rounds: int, metrics: dict[str, float]) -> None:
        self.latest = (rounds, metrics)

    def progress(self) -> tuple[int, dict[str, float]]:
        return self.latest

    def pids(self) -> list[int]:
        return [p["pid"] for p in self.placement.values()]

    def summary(self) -> tuple[int, list[dict[str, Any]], dict[str, Any]]:
        return self.starts, [self.placement[k] for k in sorted(self.placement)], self.history


class _PredictorImpl:
    """Ray Data actor: loads the booster once, predicts each batch like the local engine."""

    def __init__(self, raw: bytes, meta: dict[str, Any], id_columns: list[str], nthread: int) -> None:
        self.model = Model.from_bytes(raw, meta)
        self.model.booster.set_param({"nthread": nthread})
        self.nthread = nthread
        self.id_columns = id_columns
        self.node = _node_id()

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        _use_threads(self.nthread)
        out, unseen = self.model.predict_frame(batch, id_columns=self.id_columns, where="predict.input")
        out["__node"] = self.node
        out["__unseen"] = [json.dumps(unseen) if unseen else ""] + [""] * (len(out) - 1) if len(out) else []
        return out


def _plain_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """The dtypes the local engine writes: Ray Data hands batches back with pandas ArrowDtype columns
    (int64[pyarrow]), which the parquet file's pandas metadata would keep for every reader."""
    for col in frame.columns:
        dtype = frame[col].dtype
        if isinstance(dtype, pd.ArrowDtype):
            kind = dtype.numpy_dtype.kind
            if kind in "OSU":
                frame[col] = frame[col].astype("str")
            elif kind in "iub" and frame[col].isna().any():
                frame[col] = frame[col].astype("float64")  # as numpy would hold missing values
            else:
                frame[col] = frame[col].astype(dtype.numpy_dtype)
    return frame


def _read_files(batch: pd.DataFrame, fmt: str, batch_size: int) -> Any:
    """Ray Data UDF: stream one input file as pandas batches (a generator keeps memory bounded)."""
    import pyarrow.dataset as pads

    for path in batch["path"]:
        batches = pads.dataset(path, format=fmt).to_batches(
            batch_size=batch_size, batch_readahead=1, fragment_readahead=1
        )
        for record_batch in batches:
            yield record_batch.to_pandas()


def _probe_path_impl(path: str) -> bool:
    return Path(path).is_file()


def _lazy_remote(name: str, impl: type) -> Any:
    """Create the ray.remote class on first use so importing this module stays cheap."""
    cache: dict[str, Any] = {}

    class _Proxy:
        def __getattr__(self, attr: str) -> Any:
            if name not in cache:
                cache[name] = _remote(impl)
            return getattr(cache[name], attr)

    return _Proxy()


_XgbWorker = _lazy_remote("worker", _XgbWorkerImpl)
_Tracker = _lazy_remote("tracker", _TrackerImpl)
_ModelStore = _lazy_remote("store", _ModelStoreImpl)
_probe_path = _lazy_remote("probe", _probe_path_impl)
_Counter = _lazy_remote("counter", _CounterImpl)
_Predictor = _PredictorImpl


def _ray_train_loop(config: dict[str, Any]) -> None:
    """Ray Train V2 worker loop: resumes from the last checkpoint, reports every N rounds."""
    import ray
    import ray.train
    import xgboost as xgb

    ctx = ray.train.get_context()
    rank = ctx.get_world_rank()
    schema = FeatureSchema.from_dict(config["schema"])
    frames = {}
    for split in ("train", "valid"):
        name = f"train_{rank}" if split == "train" and config.get("train_per_rank") else split
        frames[split] = _shard_frame(ray.train.get_dataset_shard(name), schema, split)
    checkpoint = ray.train.get_checkpoint()
    start_model = _load_checkpoint(checkpoint) if checkpoint else None
    done = start_model.num_boosted_rounds() if start_model is not None else 0
    counter = config["counter"]
    ray.get(counter.started.remote(rank, _node_id(), os.getpid(), done))
    params = config["params"]
    nthread = int(params.get("nthread") or 1)
    _use_threads(nthread)
    dtrain, dvalid = quantile_pair(
        *frames["train"], *frames["valid"], nthread=nthread, max_bin=int(params.get("max_bin", 256))
    )
    remaining = max(0, int(config["rounds"]) - done)
    history: dict[str, Any] = {}
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=remaining,
        evals=[(dtrain, "train"), (dvalid, "valid")],
        evals_result=history,
        early_stopping_rounds=config["early_stopping_rounds"],
        verbose_eval=False,
        callbacks=[
            _checkpoint_callback(int(config["report_every"]), done),
            *([_throttled_progress(counter, done)] if rank == 0 and config.get("progress") else []),
        ],
        xgb_model=start_model,
    )
    best = getattr(booster, "best_iteration", None)
    if rank == 0:
        ray.get(counter.set_history.remote(history))
    if best is not None and config["early_stopping_rounds"]:  # every rank reports: report is a barrier
        ray.train.report({"best_rounds": best + 1, "rounds": booster.num_boosted_rounds()})


CHECKPOINT_FILE = "model.ubj"
_READ_CPUS = 0.25


def _train_readers(files: SourceFiles, schema: FeatureSchema, workers: int) -> list[Any]:
    """One Ray Data dataset per worker reading only that worker's contiguous slice of the train rows:
    the same rows, in the same order, as `_shards` cuts from the driver's table."""
    import ray
    import ray.data

    edges = np.linspace(0, len(files.train_rows), workers + 1).astype(int)
    out = []
    for a, b in itertools.pairwise(edges):
        wanted, parts = files.shard(slice(int(a), int(b)))
        out.append(
            ray.data.from_items(
                [{"path": p, "offset": o} for p, o in parts], override_num_blocks=max(1, len(parts))
            ).map_batches(
                _read_train_rows,
                fn_kwargs={
                    "fmt": files.fmt,
                    "wanted": ray.put(wanted),
                    "features": list(schema.features),
                    "target": schema.target,
                    "classes": schema.classes,
                },
                batch_size=1,
                num_cpus=_READ_CPUS,
                batch_format="pandas",
            )
        )
    return out


def _read_train_rows(
    batch: pd.DataFrame, fmt: str, wanted: Any, features: list[str], target: str, classes: list[Any] | None
) -> Any:
    """Ray Data UDF: the wanted rows of one source file, features as read plus the encoded label."""
    import pyarrow as pa
    import ray

    rows = ray.get(wanted) if isinstance(wanted, ray.ObjectRef) else wanted
    for path, offset in zip(batch["path"], batch["offset"], strict=True):
        frame = read_rows(str(path), fmt, int(offset), rows)
        label = frame[target]
        if classes is None:
            encoded = label.to_numpy(dtype=np.float64)
        else:
            encoded = label.map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=np.int32)
        yield pa.Table.from_pandas(frame[features].assign(__label=encoded), preserve_index=False)


def _shard_frame(shard: Any, schema: FeatureSchema, split: str) -> tuple[pd.DataFrame, np.ndarray]:
    """A worker's shard (Ray Data dataset or iterator) as typed features and labels.

    Concatenated as Arrow and converted once, to numpy-backed columns: Ray Data's own pandas batches carry
    pyarrow dtypes, on which building the QuantileDMatrix took 1.4x as long (measured, 800k x 28)."""
    import pyarrow as pa

    parts = list(shard.iter_batches(batch_format="pyarrow", batch_size=None))
    if not parts:
        frame = pd.DataFrame(columns=[*schema.features, "__label"])
    else:
        frame = pa.concat_tables(parts, promote_options="permissive").to_pandas()
    x, _ = schema.frame(frame, where=split)
    return x, frame["__label"].to_numpy()


def _nodes_missing(path: str) -> tuple[int, int]:
    """(nodes that cannot see `path`, nodes with CPUs), asked of a zero-CPU task pinned to each node."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [n["NodeID"] for n in ray.nodes() if n.get("Alive") and n["Resources"].get("CPU", 0) > 0]
    if len(nodes) < 2:
        return 0, len(nodes)
    probes = [
        _probe_path.options(  # type: ignore[attr-defined]
            num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)
        ).remote(path)
        for node in nodes
    ]
    seen = ray.get(probes, timeout=60)
    return sum(1 for ok in seen if not ok), len(nodes)


_PROGRESS_EVERY_S = 0.5


def _throttled_progress(counter: Any, done: int) -> Any:
    """Rank 0 tells the counter actor its round at most every 0.5 s (fire and forget, no barrier)."""
    last = [0.0]

    def send(rounds: int, metrics: dict[str, float]) -> None:
        now = time.monotonic()
        if now - last[0] >= _PROGRESS_EVERY_S:
            last[0] = now
            counter.seen.remote(rounds, metrics)

    return round_callback(send, offset=done)


def _await_fits(fits: list[Any], rank0: Any, total: int, progress: OnProgress | None) -> list[Any]:
    """Wait for every worker's fit, asking rank 0 for its round twice a second when someone watches."""
    import ray

    pending = list(fits)
    shown = 0
    while progress is not None and pending:
        ready, pending = ray.wait(pending, num_returns=len(pending), timeout=_PROGRESS_EVERY_S)
        ray.get(ready)  # a failed worker raises now, not after the others give up on it
        with contextlib.suppress(ray.exceptions.RayError):
            rounds, metrics = ray.get(rank0.progress.remote(), timeout=5)
            if rounds != shown:
                shown = rounds
                progress("round", {"round": rounds, "total": total, "metrics": metrics})
    return ray.get(fits)


def _final_round(progress: OnProgress | None, rounds: int, total: int, history: dict[str, Any]) -> None:
    """The last round always reaches the display: polling twice a second can miss it."""
    if progress is not None and rounds:
        latest = {k: float(v[-1]) for k, v in history.get("valid", {}).items() if len(v)}
        progress("round", {"round": rounds, "total": total, "metrics": latest})


@contextlib.contextmanager
def _polled_rounds(counter: Any, total: int, progress: OnProgress | None) -> Any:
    """While Ray Train blocks the driver, a thread reads the round rank 0 last sent to the counter."""
    if progress is None:
        yield
        return
    import ray

    stop = threading.Event()

    def poll() -> None:
        shown = 0
        while not stop.wait(_PROGRESS_EVERY_S):
            try:
                rounds, metrics = ray.get(counter.progress.remote(), timeout=5)
            except Exception:  # the display waits; the fit reports its own errors
                continue
            if rounds != shown:
                shown = rounds
                progress("round", {"round": rounds, "total": total, "metrics": metrics})

    thread = threading.Thread(target=poll, name="mlscale-rounds", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def _load_checkpoint(checkpoint: Any) -> Any:
    import xgboost as xgb

    with checkpoint.as_directory() as path:
        booster = xgb.Booster()
        booster.load_model(str(Path(path) / CHECKPOINT_FILE))
        return booster


def _checkpoint_callback(every: int, done: int) -> Any:
    """Report (a barrier across workers) only every `every` rounds and at the end, each time with a
    checkpoint: RayTrainReportCallback reports metrics every round, ~2 s a round here."""
    import tempfile

    import ray.train
    import xgboost as xgb

    def report(model: Any, evals_log: Any, rounds: int) -> None:
        metrics = {
            f"{split}-{name}": float(values[-1])
            for split, d in evals_log.items()
            for name, values in d.items()
        }
        metrics["rounds"] = rounds
        if ray.train.get_context().get_world_rank() == 0:
            with tempfile.TemporaryDirectory() as tmp:
                model.save_model(str(Path(tmp) / CHECKPOINT_FILE))
                ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp))
        else:
            ray.train.report(metrics, checkpoint=None)

    class Checkpointer(xgb.callback.TrainingCallback):
        def __init__(self) -> None:
            self.last: dict[str, Any] = {}
            self.reported_at = -1

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            self.last = {k: dict(v) for k, v in evals_log.items()}
            rounds = done + epoch + 1
            if rounds % every == 0:
                report(model, evals_log, rounds)
                self.reported_at = rounds
            return False

        def after_training(self, model: Any) -> Any:
            rounds = model.num_boosted_rounds()
            if rounds != self.reported_at:
                report(model, self.last, rounds)
            return model

    return Checkpointer()


_TRIAL_DMATRICES: dict[tuple[Any, ...], Any] = {}


def _tune_trial(config: dict[str, Any], data: Any = None, settings: Any = None) -> None:
    """One Ray Tune trial: plain xgboost in the trial's process (no Ray Train start-up)."""
    import ray
    import xgboost as xgb
    from ray import tune as rtune

    x, y, xv, yv = data
    schema = FeatureSchema.from_dict(settings["schema"])
    train = TrainConfig.model_validate(settings["train"])
    params = xgb_params(train, schema, nthread=settings["nthread"], overrides=dict(config))
    key = (settings["cache_key"], int(params["max_bin"]), settings["nthread"])
    if key not in _TRIAL_DMATRICES:  # reused trial actors build the shared matrices once, not per trial
        _TRIAL_DMATRICES.clear()
        _TRIAL_DMATRICES[key] = quantile_pair(x, y, xv, yv, nthread=settings["nthread"], max_bin=key[1])
    dtrain, dvalid = _TRIAL_DMATRICES[key]
    metric = settings["metric"]
    every = int(settings.get("report_every", 1))
    base = metric.removeprefix("valid_")
    callbacks = []
    if settings["asha"]:

        class _Report(xgb.callback.TrainingCallback):
            def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
                values = evals_log.get("valid", {}).get(base)
                # The last round is reported once, as the final result: an extra intermediate report would
                # reach ASHA's max_t first and stop the trial before its model and metrics are recorded.
                if values and (epoch + 1) % every == 0 and epoch + 1 < train.num_boost_round:
                    rtune.report({metric: float(values[-1]), "rounds": epoch + 1, "final": False})
                return False

        callbacks.append(_Report())
    started = time.perf_counter()
    booster, _, rounds = fit_trial(params, dtrain, dvalid, train, callbacks)
    model = Model(booster, schema)
    from mlscale.metrics import compute, prefixed

    metrics = prefixed("valid", compute(schema.task, yv, model.raw_predict(xv)))
    trial_id = rtune.get_context().get_trial_id()
    ray.get(settings["store"].put.remote(trial_id, bytes(booster.save_raw("ubj"))))
    rtune.report({**metrics, "rounds": rounds, "final": True, "fit_s": time.perf_counter() - started})


def _make_trial_callback_base() -> type:
    from ray.tune import Callback

    return Callback


def _null_callback() -> Any:
    return _make_trial_callback_base()()


class _TrialCallback:
    """Driver-side: turns finished Ray Tune trials into TrialResults for the runner (MLflow)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        base = _make_trial_callback_base()

        class Impl(base):  # type: ignore[valid-type,misc]
            def __init__(
                self, on_trial: OnTrial, metric: str, data: Dataset, store: Any, state_dir: Path
            ) -> None:
                self.on_trial, self.metric, self.data, self.store = on_trial, metric, data, store
                self.state_dir = state_dir
                self.results: list[TrialResult] = []
                self.started: dict[str, float] = {}

            def __reduce__(self) -> Any:
                # Tune pickles its callbacks into the experiment state; a restored experiment gets a
                # no-op one (the runner's live MLflow logger cannot travel), and logs from the grid.
                return (_null_callback, ())

            def on_trial_start(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
                self.started[trial.trial_id] = time.perf_counter()

            def on_trial_complete(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
                self._record(trial, "completed")

            def on_trial_error(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
                self._record(trial, "failed")

            def _record(self, trial: Any, status: str) -> None:
                import ray

                last = dict(trial.last_result or {})
                final = bool(last.get("final"))
                if status == "completed" and not final:
                    status = "pruned"
                model = None
                if final:
                    raw = ray.get(self.store.get.remote(trial.trial_id))
                    if raw:
                        model = Model.from_bytes(raw, {"schema": self.data.schema.to_dict(), "info": {}})
                        model.save(self.state_dir / "models" / trial.trial_id)  # survives a killed driver
                metrics = {
                    k: float(v)
                    for k, v in last.items()
                    if k.startswith("valid_") and isinstance(v, (int, float))
                }
                if model is not None:
                    metrics = evaluate(model, self.data)
                value = metrics.get(self.metric, float(last.get(self.metric, float("nan"))))
                result = TrialResult(
                    trial_id=trial.trial_id,
                    number=len(self.results),
                    params={k: _plain(v) for k, v in (trial.config or {}).items()},
                    metric=float(value),
                    metrics=metrics,
                    seconds=time.perf_counter() - self.started.get(trial.trial_id, time.perf_counter()),
                    rounds=int(last.get("rounds", 0)),
                    status=status,
                    model=model,
                )
                self.results.append(result)
                self.on_trial(result)

        return Impl(*args, **kwargs)


def _ray_dim(dim: SearchDim) -> Any:
    from ray import tune as rtune

    if dim.kind == "choice":
        return rtune.choice(list(dim.values or []))
    low, high = float(dim.low or 0), float(dim.high or 0)
    if dim.kind == "randint":
        return rtune.randint(int(low), int(high))
    if dim.kind == "loguniform":
        return rtune.loguniform(low, high)
    if dim.kind == "quniform":
        q = float(dim.q or 1)
        return (
            rtune.uniform(low, high).quantized(q)
            if not q.is_integer()
            else rtune.sample_from(
                lambda _spec, lo=low, hi=high, qq=q: quantize(np.random.uniform(lo, hi), qq)
            )
        )
    return rtune.uniform(low, high)


def _space_key(tune: TuneConfig, train: TrainConfig, data: Dataset) -> str:
    payload = json.dumps(
        [tune.model_dump(mode="json"), train.model_dump(mode="json"), data.n_rows], sort_keys=True
    )
    return "tune-" + hashlib.sha256(payload.encode()).hexdigest()[:12]


def _shards(data: Dataset, workers: int, *, with_train: bool = True) -> list[Any]:
    """Contiguous row shards of train (unless workers read it themselves) and valid, one per worker,
    put once in the object store."""
    import ray

    def cut(n: int) -> list[slice]:
        edges = np.linspace(0, n, workers + 1).astype(int)
        return [slice(a, b) for a, b in itertools.pairwise(edges)]

    out = []
    for st, sv in zip(cut(len(data.x_train)), cut(len(data.x_valid)), strict=True):
        train = (data.x_train.iloc[st], data.y_train[st]) if with_train else (None, None)
        out.append(ray.put((*train, data.x_valid.iloc[sv], data.y_valid[sv])))
    return out


def _unwrap_data_error(exc: BaseException) -> BaseException:
    from mlscale.errors import MlscaleError

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, MlscaleError):
            return seen
        cause = getattr(seen, "cause", None)
        seen = cause if isinstance(cause, BaseException) else seen.__cause__
    return EngineError(f"ray: batch inference failed ({_first_line(exc)})")


def _first_line(exc: Any) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v
