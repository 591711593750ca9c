"""Trainer `actors` (the default without retries): one plain Ray actor per node running xgboost with its own
collective communicator (RabitTracker), data through the object store or read by each worker."""

from __future__ import annotations

import contextlib
import os
from typing import Any

import numpy as np
import pandas as pd
import ray
import xgboost as xgb
from ray.util.placement_group import PlacementGroup, placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy
from xgboost.tracker import RabitTracker

from mlscale.data import Dataset, FeatureSchema, SourceFiles
from mlscale.data.batches import TrainStream, part_of
from mlscale.engines.ray.layout import TrainLayout
from mlscale.engines.ray.progress import await_fits, final_round
from mlscale.engines.ray.train_data import shard_frame, shards, train_readers
from mlscale.engines.ray.worker import node_id, use_threads
from mlscale.errors import EngineError
from mlscale.modeling.external_memory import cache_dir, extmem_pair, free
from mlscale.modeling.model import Model
from mlscale.modeling.training import fit, quantile_pair, round_callback
from mlscale.recipe.schema import TrainConfig
from mlscale.results import OnProgress, Placement, TrainResult
from mlscale.util.text import first_line

RESERVE_TIMEOUT_S = 60.0
"""The shortest wait for the workers' placement group (the engine waits longer on an autoscaling cluster)."""


@ray.remote
class XgbWorker:
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
        stream: tuple[TrainStream, range] | None = None,
    ) -> dict[str, Any]:
        """Fit this rank's shard in the collective; rank 0 returns the model. `stream`: this rank's batches
        of the train rows, built into an ExtMemQuantileDMatrix (train.external_memory)."""
        x, y, xv, yv = shard
        use_threads(int(params.get("nthread") or 1))
        if reader is not None:  # this worker's train rows, read from the source files with Ray Data
            x, y = shard_frame(reader, FeatureSchema.from_dict(schema), "train")
        nthread = int(params.get("nthread") or 1)
        context = (
            xgb.collective.CommunicatorContext(**tracker_args) if tracker_args else contextlib.nullcontext()
        )
        with context, cache_dir() as cache:
            max_bin = int(params.get("max_bin", 256))
            if stream is None:
                dtrain, dvalid = quantile_pair(x, y, xv, yv, nthread=nthread, max_bin=max_bin)
            else:
                part, batches = stream
                dtrain, dvalid = extmem_pair(
                    part,
                    FeatureSchema.from_dict(schema),
                    xv,
                    yv,
                    cache=cache,
                    nthread=nthread,
                    max_bin=max_bin,
                    batches=batches,
                )
            rows = int(dtrain.num_row())
            booster, history, done = fit(
                params,
                dtrain,
                dvalid,
                num_boost_round=rounds,
                early_stopping_rounds=early_stopping_rounds,
                with_train_curve=rows <= 250_000,
                callbacks=[round_callback(self._seen)] if rank == 0 else [],
            )
            free(dtrain, dvalid)
        return {
            "rank": rank,
            "node": node_id(),
            "pid": os.getpid(),
            "rows": rows,
            "model": bytes(booster.save_raw("ubj")) if rank == 0 else b"",
            "history": history,
            "rounds": done,
        }


@ray.remote
class Tracker:
    """xgboost's RabitTracker, hosted on the cluster so workers reach it on the node's own address."""

    def __init__(self, n_workers: int) -> None:
        self.tracker = RabitTracker(n_workers=n_workers, host_ip=ray.util.get_node_ip_address(), port=0)
        self.tracker.start()

    def args(self) -> dict[str, Any]:
        """The arguments every worker's CommunicatorContext needs."""
        return dict(self.tracker.worker_args())

    def wait(self) -> None:
        """Wait (briefly) for the ring to finish."""
        self.tracker.wait_for(timeout=10)


def train_actors(
    data: Dataset,
    train: TrainConfig,
    params: dict[str, Any],
    layout: TrainLayout,
    *,
    gpus: float,
    nodes: int,
    progress: OnProgress | None,
    files: SourceFiles | None,
    reserve_timeout_s: float = RESERVE_TIMEOUT_S,
) -> TrainResult:
    """Fit on `layout.workers` actors, one placement-group bundle each (spread over the nodes)."""
    bundle = {"CPU": layout.cpus, **({"GPU": gpus} if gpus else {})}
    pg = _reserve(
        bundle, layout.workers, spread_strictly=layout.workers <= nodes, timeout_s=reserve_timeout_s
    )
    try:
        results = _fit_on_actors(pg, data, train, params, layout, gpus=gpus, progress=progress, files=files)
    finally:
        remove_placement_group(pg)
    raw, history, rounds = results[0]["model"], results[0]["history"], results[0]["rounds"]
    final_round(progress, rounds, train.num_boost_round, history)
    model = Model.from_bytes(raw, {"schema": data.schema.to_dict(), "info": {"rounds": rounds}})
    placement = [Placement(rank=r["rank"], node=r["node"], pid=r["pid"], rows=r["rows"]) for r in results]
    return TrainResult(
        model=model,
        history=history,
        rounds=rounds,
        placement=placement,
        details={
            "trainer": "actors",
            "workers": layout.workers,
            "cpus_per_worker": layout.cpus,
            "data": "external_memory"
            if data.stream is not None
            else "ray_data"
            if files is not None
            else "object_store",
        },
    )


def _reserve(
    bundle: dict[str, float], workers: int, *, spread_strictly: bool, timeout_s: float
) -> PlacementGroup:
    pg = placement_group([bundle] * workers, strategy="STRICT_SPREAD" if spread_strictly else "SPREAD")
    ready, _ = ray.wait([pg.ready()], timeout=timeout_s)
    if not ready:
        remove_placement_group(pg)
        raise EngineError(
            f"ray: could not reserve {workers} x {bundle} within {timeout_s:g} s; is the cluster busy?"
        )
    return pg


def _fit_on_actors(
    pg: PlacementGroup,
    data: Dataset,
    train: TrainConfig,
    params: dict[str, Any],
    layout: TrainLayout,
    *,
    gpus: float,
    progress: OnProgress | None,
    files: SourceFiles | None,
) -> list[dict[str, Any]]:
    workers = layout.workers
    actors = [
        XgbWorker.options(  # type: ignore[attr-defined]  # @ray.remote made it an ActorClass; Ray types it as the class
            num_cpus=layout.cpus,
            num_gpus=gpus or None,
            scheduling_strategy=PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=i),
            max_concurrency=2,  # fit in one thread, progress() answers in the other
        ).remote()
        for i in range(workers)
    ]
    tracker_args: dict[str, Any] = {}
    tracker = None
    if workers > 1:
        tracker = Tracker.options(num_cpus=0).remote(workers)  # type: ignore[attr-defined]  # @ray.remote made it an ActorClass; Ray types it as the class
        tracker_args = ray.get(tracker.args.remote())
    parts = shards(data, workers, with_train=files is None and data.stream is None)
    readers: list[Any] = train_readers(files, data.schema, workers) if files is not None else [None] * workers
    streams: list[Any] = [None] * workers
    if data.stream is not None:  # each worker reads its own contiguous batches of the source files
        streams = [(data.stream, part_of(len(data.stream.batches), r, workers)) for r in range(workers)]
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
            stream,
        )
        for rank, (actor, shard, reader, stream) in enumerate(
            zip(actors, parts, readers, streams, strict=True)
        )
    ]
    try:
        results = await_fits(fits, actors[0], train.num_boost_round, progress)
    except ray.exceptions.RayError as exc:
        raise EngineError(
            f"ray: a training worker failed ({first_line(exc)}); set engine.ray.max_failures > 0 "
            "to retry from checkpoints with Ray Train"
        ) from exc
    if tracker is not None:
        with contextlib.suppress(Exception):
            ray.get(tracker.wait.remote(), timeout=10)
    for actor in actors:
        ray.kill(actor)
    return results
