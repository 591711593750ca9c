"""Trainer `ray_train` (the default when engine.ray.max_failures > 0): Ray Train V2 XGBoostTrainer with
FailureConfig and checkpoints every engine.ray.report_every rounds, resumed from the last checkpoint after a
worker dies."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import ray
import ray.data
import ray.train
import xgboost as xgb
from ray.train import CheckpointConfig, DataConfig, FailureConfig, RunConfig, ScalingConfig
from ray.train.xgboost import XGBoostTrainer

from mlscale.data import Dataset, FeatureSchema, SourceFiles
from mlscale.engines.ray.connection import nodes_missing
from mlscale.engines.ray.layout import TrainLayout
from mlscale.engines.ray.progress import final_round, polled_rounds, throttled_progress
from mlscale.engines.ray.train_data import shard_frame, train_readers
from mlscale.engines.ray.worker import node_id, use_threads
from mlscale.errors import EngineError
from mlscale.modeling.model import Model
from mlscale.modeling.training import quantile_pair
from mlscale.recipe.schema import EngineConfig, TrainConfig
from mlscale.results import OnProgress, Placement, TrainResult
from mlscale.util.text import first_line

CHECKPOINT_FILE = "model.ubj"


@ray.remote
class Counter:
    """Counts Ray Train loop starts (restarts = failures) and keeps placement and curves."""

    def __init__(self) -> None:
        self.starts = 0
        self.latest: tuple[int, dict[str, float]] = (0, {})
        self.placement: dict[int, dict[str, Any]] = {}
        self.history: dict[str, Any] = {}

    def started(self, rank: int, node: str, pid: int, resumed_from: int) -> None:
        """A worker loop (re)started; rank 0's starts count the attempts."""
        if rank == 0:
            self.starts += 1
        self.placement[rank] = {"rank": rank, "node": node, "pid": pid, "resumed_from_round": resumed_from}

    def set_history(self, history: dict[str, Any]) -> None:
        """Rank 0's evaluation curves."""
        self.history = history

    def seen(self, rounds: int, metrics: dict[str, float]) -> None:
        """Rank 0's latest round."""
        self.latest = (rounds, metrics)

    def progress(self) -> tuple[int, dict[str, float]]:
        """(rounds done, latest valid metrics) for the display."""
        return self.latest

    def summary(self) -> tuple[int, list[dict[str, Any]], dict[str, Any]]:
        """(starts, placement by rank, history)."""
        return self.starts, [self.placement[k] for k in sorted(self.placement)], self.history


def train_ray_train(
    config: EngineConfig,
    data: Dataset,
    train: TrainConfig,
    params: dict[str, Any],
    layout: TrainLayout,
    *,
    storage: str,
    progress: OnProgress | None,
    files: SourceFiles | None,
) -> TrainResult:
    """Fit with Ray Train, retrying from the last checkpoint up to engine.ray.max_failures times."""
    counter = Counter.options(num_cpus=0).remote()  # type: ignore[attr-defined]  # @ray.remote made it an ActorClass; Ray types it as the class
    check_shared_storage(storage, explicit=config.ray.storage_path is not None)
    loop_config = {
        "params": params,
        "schema": data.schema.to_dict(),
        "rounds": train.num_boost_round,
        "early_stopping_rounds": train.early_stopping_rounds,
        "report_every": config.ray.report_every,
        "counter": counter,
        "progress": progress is not None,
        "train_per_rank": files is not None,
    }
    trainer = _trainer(config, data, loop_config, layout, storage=storage, files=files)
    try:
        with polled_rounds(counter, train.num_boost_round, progress):
            result = trainer.fit()
    except Exception as exc:
        raise EngineError(f"ray: Ray Train failed ({first_line(exc)})") from exc
    if result.checkpoint is None:
        raise EngineError("ray: Ray Train finished without a checkpoint")
    booster = _load_checkpoint(result.checkpoint)
    checkpoint = str(result.checkpoint.path)
    if config.ray.storage_path is None:  # mlscale's own default directory: the model is in memory now
        checkpoint = _remove_run_dir(result.path, storage)
    starts, placement, history = ray.get(counter.summary.remote())
    ray.kill(counter)
    metrics = result.metrics or {}
    rounds = int(metrics.get("rounds", booster.num_boosted_rounds()))
    final_round(progress, rounds, train.num_boost_round, history or {})
    best = int(metrics.get("best_rounds", booster.num_boosted_rounds()))
    if best < booster.num_boosted_rounds():
        booster = booster[:best]
    model = Model(booster, data.schema, info={"rounds": booster.num_boosted_rounds()})
    return TrainResult(
        model=model,
        history=history or {},
        rounds=rounds,
        placement=[Placement(**p) for p in placement],
        failures=max(0, starts - 1),
        details={
            "trainer": "ray_train",
            "workers": layout.workers,
            "cpus_per_worker": layout.cpus,
            "data": "ray_data" if files is not None else "object_store",
            "checkpoint": checkpoint,
        },
    )


def _remove_run_dir(path: str | None, storage: str) -> str:
    """Remove a finished run's checkpoints from the default storage (they piled up under
    ~/.mlscale/ray_train after every successful run); a user's engine.ray.storage_path is left alone."""
    root = Path(storage).resolve()
    if not path or "://" in storage:
        return str(path)
    run_dir = Path(path).resolve()
    while run_dir.parent != root and root in run_dir.parents:
        run_dir = run_dir.parent  # the experiment's own directory right under the storage root
    if run_dir.parent == root:
        shutil.rmtree(run_dir, ignore_errors=True)
        return "removed after the run (default storage)"
    return str(path)


def _trainer(
    config: EngineConfig,
    data: Dataset,
    loop_config: dict[str, Any],
    layout: TrainLayout,
    *,
    storage: str,
    files: SourceFiles | None,
) -> XGBoostTrainer:
    valid_frame = data.x_valid.assign(__label=data.y_valid)
    datasets: dict[str, Any] = {"valid": ray.data.from_pandas(valid_frame)}
    if files is None:
        datasets["train"] = ray.data.from_pandas(data.x_train.assign(__label=data.y_train))
    else:  # one dataset per rank, each reading only its own rows: not split again by Ray Train
        datasets.update(
            {f"train_{r}": ds for r, ds in enumerate(train_readers(files, data.schema, layout.workers))}
        )
    gpus = config.gpus_per_worker
    return XGBoostTrainer(
        ray_train_loop,
        train_loop_config=loop_config,
        scaling_config=ScalingConfig(
            num_workers=layout.workers,
            resources_per_worker={"CPU": layout.cpus, **({"GPU": gpus} if gpus else {})},
            placement_strategy="SPREAD",
        ),
        run_config=RunConfig(
            name=f"mlscale-{uuid.uuid4().hex[:8]}",
            storage_path=storage,
            failure_config=FailureConfig(max_failures=config.ray.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=2),
        ),
        datasets=datasets,
        dataset_config=DataConfig(datasets_to_split=["train", "valid"] if files is None else ["valid"]),
    )


def check_shared_storage(storage: str, *, explicit: bool) -> None:
    """Ray Train restores checkpoints on any node: a local path must be the same directory everywhere.

    Probed, not assumed: the driver writes a marker and a zero-CPU task on every node looks for it.
    URIs (s3://, gs://, ...) are left to Ray. `explicit`: the path is engine.ray.storage_path (for the message).
    """
    if "://" in storage:
        return
    where = "engine.ray.storage_path" if explicit else f"the default checkpoint dir {storage}"
    marker = Path(storage) / f".mlscale-probe-{uuid.uuid4().hex[:12]}"
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("probe")
        missing, nodes = nodes_missing(str(marker))
    except OSError as exc:
        raise EngineError(f"ray: cannot write Ray Train checkpoints to {where} ({exc})") from exc
    finally:
        marker.unlink(missing_ok=True)
    if missing:
        raise EngineError(
            f"ray: {where} is not shared: {missing} of {nodes} nodes cannot see it; set "
            "engine.ray.storage_path to storage every node mounts (NFS) or a URI such as s3://bucket/path"
        )


def _load_checkpoint(checkpoint: ray.train.Checkpoint) -> xgb.Booster:
    with checkpoint.as_directory() as path:
        booster = xgb.Booster()
        booster.load_model(str(Path(path) / CHECKPOINT_FILE))
        return booster


def _report(model: xgb.Booster, evals_log: Any, rounds: int) -> None:
    """Report metrics to Ray Train, rank 0 with a checkpoint (a barrier across workers)."""
    metrics: dict[str, Any] = {
        f"{split}-{name}": float(values[-1]) for split, d in evals_log.items() for name, values in d.items()
    }
    metrics["rounds"] = rounds
    if ray.train.get_context().get_world_rank() == 0:
        with tempfile.TemporaryDirectory() as tmp:
            model.save_model(str(Path(tmp) / CHECKPOINT_FILE))
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp))
    else:
        ray.train.report(metrics, checkpoint=None)


class Checkpointer(xgb.callback.TrainingCallback):
    """Report (a barrier across workers) only every `every` rounds and at the end, each time with a
    checkpoint: RayTrainReportCallback reports metrics every round, ~2 s a round here."""

    def __init__(self, every: int, done: int) -> None:
        self.every, self.done = every, done
        self.last: dict[str, Any] = {}
        self.reported_at = -1

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        """Report every `every` rounds (counted from the first round of the whole fit)."""
        self.last = {k: dict(v) for k, v in evals_log.items()}
        rounds = self.done + epoch + 1
        if rounds % self.every == 0:
            _report(model, evals_log, rounds)
            self.reported_at = rounds
        return False

    def after_training(self, model: Any) -> Any:
        """The final model is always reported once."""
        rounds = model.num_boosted_rounds()
        if rounds != self.reported_at:
            _report(model, self.last, rounds)
        return model


def ray_train_loop(config: dict[str, Any]) -> None:
    """Ray Train V2 worker loop: resumes from the last checkpoint, reports every N rounds."""
    ctx = ray.train.get_context()
    rank = ctx.get_world_rank()
    schema = FeatureSchema.from_dict(config["schema"])
    frames = {}
    for split in ("train", "valid"):
        name = f"train_{rank}" if split == "train" and config.get("train_per_rank") else split
        frames[split] = shard_frame(ray.train.get_dataset_shard(name), schema, split)
    checkpoint = ray.train.get_checkpoint()
    start_model = _load_checkpoint(checkpoint) if checkpoint else None
    done = start_model.num_boosted_rounds() if start_model is not None else 0
    counter = config["counter"]
    ray.get(counter.started.remote(rank, node_id(), os.getpid(), done))
    params = config["params"]
    nthread = int(params.get("nthread") or 1)
    use_threads(nthread)
    dtrain, dvalid = quantile_pair(
        *frames["train"], *frames["valid"], nthread=nthread, max_bin=int(params.get("max_bin", 256))
    )
    history: dict[str, Any] = {}
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=max(0, int(config["rounds"]) - done),
        evals=[(dtrain, "train"), (dvalid, "valid")],
        evals_result=history,
        early_stopping_rounds=config["early_stopping_rounds"],
        verbose_eval=False,
        callbacks=[
            Checkpointer(int(config["report_every"]), done),
            *([throttled_progress(counter, done)] if rank == 0 and config.get("progress") else []),
        ],
        xgb_model=start_model,
    )
    best = getattr(booster, "best_iteration", None)
    if rank == 0:
        ray.get(counter.set_history.remote(history))
    if best is not None and config["early_stopping_rounds"]:  # every rank reports: report is a barrier
        ray.train.report({"best_rounds": best + 1, "rounds": booster.num_boosted_rounds()})
