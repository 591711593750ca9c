"""Engine dask's tasks on the session's `dask scheduler` and its 2 workers: tuning trials, batch inference
and SHAP contributions run on the workers, as the workers' own task records show."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import wait_dask_workers

from mlscale.data import prepare
from mlscale.engines.local import LocalEngine
from mlscale.recipe.load import validate
from mlscale.recipe.schema import EngineConfig, PredictConfig, TuneConfig
from mlscale.scoring.partitioned import read_manifest

pytestmark = pytest.mark.dask

ROUNDS = 40
SPACE = {"eta": {"loguniform": [0.001, 0.5]}, "max_depth": {"randint": [2, 7]}}


@pytest.fixture(scope="module")
def engine(dask_cluster):
    """Engine dask joined to the session's scheduler (2 workers, 1 thread each, with nannies)."""
    from mlscale.engines.dask import DaskEngine

    engine = DaskEngine(EngineConfig(name="dask", workers=2, dask={"address": dask_cluster.address}))
    engine.start()
    try:
        yield engine
    finally:
        engine.stop()


@pytest.fixture(scope="module")
def client(engine):
    return engine.client


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "row_id": np.arange(n) + seed * 100_000,
            "x": rng.normal(size=n),
            "z": rng.normal(size=n),
            "colour": rng.choice(["r", "g", "b"], n),
        }
    )
    noise = rng.normal(scale=0.7, size=n)
    frame["label"] = ((frame["x"] + 0.5 * frame["z"] + noise > 0) ^ (frame["colour"] == "r")).astype(int)
    return frame


@pytest.fixture(scope="module")
def setup():
    recipe = validate(
        {
            "name": "t",
            "data": {"source": "csv", "path": "u.csv", "target": "label", "exclude": ["row_id"]},
            "train": {"num_boost_round": ROUNDS},
        },
        source="r.yaml",
    )
    data = prepare(recipe, _table(3000, 0), source="r.yaml")
    model = LocalEngine(EngineConfig()).train(data, recipe.train).model
    return recipe, data, model


def _tune(**kw) -> TuneConfig:
    return TuneConfig.model_validate({"space": SPACE, "algorithm": "random", "seed": 3, **kw})


def _task_records(client, prefix: str, since: float) -> list[dict]:
    """The tasks whose key starts with `prefix`, as the workers recorded them (worker, compute start/stop)."""
    stream = client.get_task_stream(start=since)
    return [t for t in stream if str(t["key"]).startswith(prefix)]


def _compute(record: dict) -> tuple[float, float]:
    span = next(s for s in record["startstops"] if s["action"] == "compute")
    return span["start"], span["stop"]


def test_trials_run_concurrently_on_both_workers_and_asha_prunes(engine, client, setup, tmp_path):
    recipe, data, _ = setup
    tune = _tune(num_samples=8, scheduler="asha", grace_period=4)
    seen: list = []
    since = time.time()
    client.get_task_stream(start=since)  # starts the scheduler's task-stream plugin
    result = engine.tune(data, recipe.train, tune, on_trial=seen.append, state_dir=tmp_path / "state")
    records = _task_records(client, "mlscale-tune-", since)
    assert len(records) == 8 and len(seen) == 8
    assert {r["worker"] for r in records} == set(client.nthreads())  # both workers fitted trials
    spans = sorted(_compute(r) for r in records)
    assert any(b[0] < a[1] for a, b in itertools.pairwise(spans)), spans  # some trials overlapped
    pruned = [t for t in result.trials if t.status == "pruned"]
    assert pruned and all(t.rounds in (4, 12, 36) for t in pruned), [
        (t.status, t.rounds) for t in result.trials
    ]
    assert result.best.status == "completed" and result.best_model is not None


def test_one_trial_at_a_time_equals_engine_local(client, setup, tmp_path):
    from mlscale.engines.dask.tuning import run_tune

    recipe, data, _ = setup
    tune = _tune(num_samples=6, scheduler="asha", grace_period=4, max_concurrent=1, algorithm="tpe")
    local = LocalEngine(EngineConfig())
    local.nthread = 1  # the same threads per fit as the dask trials: xgboost's sums then agree to the bit
    expected = local.tune(data, recipe.train, tune, on_trial=lambda t: None, state_dir=tmp_path / "local")
    got = run_tune(
        client,
        data,
        recipe.train,
        tune,
        threads_per_trial=1,
        on_trial=lambda t: None,
        state_dir=tmp_path / "dask",
    )

    def summary(result):
        return [(t.number, t.params, t.status, t.rounds, round(t.metric, 10)) for t in result.trials]

    assert summary(got) == summary(expected)
    assert any(t.status == "pruned" for t in got.trials) and got.best.number == expected.best.number


def _running(client) -> list[int]:
    """How many tasks each worker is running, as the workers see it (a cancelled task leaves the scheduler's
    books at once, but its thread runs on)."""
    return list(client.run(lambda dask_worker: len(dask_worker.state.all_running_tasks)).values())


def _idle(client, within: float) -> bool:
    """Whether every worker has no task running within `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not any(_running(client)):
            return True
        time.sleep(0.1)
    return False


def test_ctrl_c_mid_tune_stops_the_trials_running_on_the_workers(engine, client, setup, tmp_path):
    recipe, data, _ = setup
    long = recipe.train.model_copy(update={"num_boost_round": 1_000_000, "early_stopping_rounds": None})
    tune = _tune(num_samples=2, space={"eta": {"uniform": [0.001, 0.002]}})
    seen: list[list[int]] = []

    def interrupt_once_both_fit() -> None:
        deadline = time.monotonic() + 60
        seen.append(_running(client))
        while not all(seen[-1]) and time.monotonic() < deadline:
            time.sleep(0.2)
            seen.append(_running(client))
        signal.raise_signal(signal.SIGINT)

    threading.Thread(target=interrupt_once_both_fit, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        engine.tune(data, long, tune, on_trial=lambda t: None, state_dir=tmp_path / "state")
    assert seen[-1] == [1, 1]  # interrupted while each worker fitted a trial
    assert _idle(client, within=4)  # the trials saw the stop: no million rounds


def test_ctrl_c_mid_predict_commits_nothing_and_cancels_the_files_left(engine, client, setup, tmp_path):
    inputs = _inputs(tmp_path, sizes=(4000,) * 8)

    def interrupt(event: str, info) -> None:
        if info["done"]:
            signal.raise_signal(signal.SIGINT)

    config = _config(inputs, f"{tmp_path}/out/")
    with pytest.raises(KeyboardInterrupt):
        engine.predict(setup[2], config, data=None, where="r", progress=interrupt)
    assert _idle(client, within=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # no output, no temporary directory


def test_interrupted_tune_resumes_with_only_the_missing_trials(client, setup, tmp_path):
    from mlscale.engines.dask.tuning import run_tune

    recipe, data, _ = setup
    tune = _tune(num_samples=5, max_concurrent=1)
    state = tmp_path / "state"
    first: list = []

    def interrupt_after_two(trial) -> None:
        first.append(trial)
        if len(first) == 2:
            signal.raise_signal(signal.SIGINT)  # Ctrl-C: the run stops before its next trial

    with pytest.raises(KeyboardInterrupt):
        run_tune(
            client,
            data,
            recipe.train,
            tune,
            threads_per_trial=1,
            on_trial=interrupt_after_two,
            state_dir=state,
        )
    assert [t.number for t in first] == [0, 1]
    since = time.time()
    client.get_task_stream(start=since)
    again: list = []
    result = run_tune(
        client,
        data,
        recipe.train,
        tune,
        threads_per_trial=1,
        on_trial=again.append,
        state_dir=state,
        resume=True,
    )
    ran = _task_records(client, "mlscale-tune-", since)
    assert result.trials_restored == 2 and len(result.trials) == 5
    assert sorted(str(r["key"])[-3:] for r in ran) == ["002", "003", "004"]  # only the missing trials ran
    assert [t.number for t in again] == [0, 1, 2, 3, 4]


def _inputs(tmp_path: Path, sizes=(900, 40, 1200, 700)) -> Path:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i, n in enumerate(sizes):
        _table(n, i + 1).drop(columns=["label"]).to_parquet(inputs / f"f{i}.parquet")
    return inputs


def _config(inputs: Path, output: str, **kw) -> PredictConfig:
    return PredictConfig(input=str(inputs), output=output, id_columns=["row_id"], batch_size=300, **kw)


def _local_and_dask(model, tmp_path: Path, suffix: str, predict):
    """The same input files predicted by engine local and by `predict` on the cluster (outputs local<suffix>
    and dask<suffix>)."""
    inputs = _inputs(tmp_path)
    local = LocalEngine(EngineConfig()).predict(
        model, _config(inputs, f"{tmp_path}/local{suffix}"), data=None, where="r"
    )
    return local, predict(model, _config(inputs, f"{tmp_path}/dask{suffix}"))


def test_partitioned_predict_on_both_workers_writes_the_local_manifest(engine, client, setup, tmp_path):
    local, result = _local_and_dask(
        setup[2], tmp_path, "/", lambda model, config: engine.predict(model, config, data=None, where="r")
    )
    expected, got = read_manifest(local.output), read_manifest(result.output)
    expected.pop("created"), got.pop("created")
    assert got == expected
    for f in got["files"]:
        pd.testing.assert_frame_equal(
            pd.read_parquet(result.output / f["file"]), pd.read_parquet(local.output / f["file"])
        )
    workers = {p.node.split(" ")[0] for p in result.placement}
    assert workers == set(client.nthreads()), result.placement  # each worker predicted a file (its own word)


def test_one_output_file_in_input_order_with_bounded_tasks(client, setup, tmp_path):
    from mlscale.engines.dask.parts import predict_files_to_one

    since = time.time()
    client.get_task_stream(start=since)

    def predict(model, config):
        return predict_files_to_one(client, model, config, where="r", progress=None, total=None, in_flight=2)

    local, result = _local_and_dask(setup[2], tmp_path, ".parquet", predict)
    assert result.rows == local.rows == 2840
    pd.testing.assert_frame_equal(pd.read_parquet(result.output), pd.read_parquet(local.output))
    spans = [
        _compute(r) for r in sorted(_task_records(client, "mlscale-predict-", since), key=lambda r: r["key"])
    ]
    assert len(spans) == 4
    # in flight: at most 2 files; file i+2 is asked for once file i's predictions are back
    assert all(later[0] >= earlier[1] for earlier, later in zip(spans, spans[2:], strict=False)), spans


def test_explain_on_the_workers_equals_in_process_contributions(engine, client, setup):
    from mlscale.assess.explanations import contributions

    _, data, model = setup
    x = data.x_train.iloc[:1000]
    result = engine.explain(model, x)
    assert [p.rows for p in result.parts] == [500, 500]
    assert {p.node for p in result.parts} == set(client.nthreads()) and all(
        p.pid != os.getpid() for p in result.parts
    )
    np.testing.assert_allclose(result.values, contributions(model.booster, x), rtol=1e-6, atol=1e-6)


def test_a_worker_killed_during_predict_has_its_files_predicted_again(dask_cluster, client, setup, tmp_path):
    from mlscale.engines.dask.parts import predict_files

    _, _, model = setup
    inputs = _inputs(tmp_path, sizes=(4000,) * 8)
    pids = client.run(os.getpid)
    killed: list[int] = []

    def kill_one(event: str, info) -> None:
        if info["done"] and not killed:  # a file is done: kill a worker in the middle of its next one
            busy = sorted(addr for addr, keys in client.processing().items() if keys)
            killed.append(pids[busy[0]])
            os.kill(pids[busy[0]], signal.SIGKILL)

    try:
        result = predict_files(
            client, model, _config(inputs, f"{tmp_path}/out/"), where="r", progress=kill_one, total=None
        )
    finally:
        wait_dask_workers(
            dask_cluster.address, 2
        )  # its nanny restarts the killed worker: the session's again
    assert killed and result.rows == 32_000
    manifest = read_manifest(result.output)
    assert [f["rows"] for f in manifest["files"]] == [4000] * 8
    assert sum(len(pd.read_parquet(result.output / f["file"])) for f in manifest["files"]) == 32_000
