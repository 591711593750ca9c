"""Engine dask without a cluster: its settings, the layout plan and run share, the version gate, and the
typing of the partitions its workers read."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlscale import load_recipe
from mlscale.data import FeatureSchema
from mlscale.engines.dask.layout import WorkerInfo, private_shape, train_layout, workers_of
from mlscale.engines.dask.train_data import LABEL, read_worker_rows, typed_part
from mlscale.errors import RecipeError
from mlscale.recipe.engine_config import DaskSettings, EngineConfig
from mlscale.workflow import versions

REPO = Path(__file__).resolve().parents[2]
GOOD = {"xgboost": "3.2.0", "mlflow": "3.17.2", "pandas": "3.1.1", "pyarrow": "25.0.1"}


def _recipe(tmp_path: Path, engine: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(f"name: t\ndata: {{source: sklearn, dataset: iris}}\nengine: {engine}\n")
    return path


@pytest.mark.parametrize(
    "address", ["tcp://127.0.0.1:8786", "tls://scheduler.example:8786", "tcp://[::1]:8786"]
)
def test_a_scheduler_address_validates(address):
    assert DaskSettings(address=address).cluster_address == address


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:8786", "not a Dask scheduler address"),
        ("http://127.0.0.1:8786", "not a Dask scheduler address"),
        ("tcp://127.0.0.1", "needs a host and a port"),
        ("tcp://127.0.0.1:8786/x", "something besides host:port"),
        ("tcp://u@127.0.0.1:8786", "something besides host:port"),
    ],
)
def test_a_bad_scheduler_address_is_one_line_naming_the_key(tmp_path, address, expected):
    with pytest.raises(RecipeError) as info:
        load_recipe(_recipe(tmp_path, f"{{name: dask, dask: {{address: '{address}'}}}}"))
    message = str(info.value)
    assert "engine.dask.address" in message and expected in message and "\n" not in message


def test_a_remote_scheduler_only_the_recipe_names_needs_confirmation(tmp_path):
    from mlscale.recipe.trust import require_confirmed

    recipe = load_recipe(_recipe(tmp_path, "{name: dask, dask: {address: 'tcp://10.1.2.3:8786'}}"))
    with pytest.raises(RecipeError, match=r"engine\.dask\.address: only the recipe names"):
        require_confirmed(recipe, "r.yaml", trust=False)
    here = load_recipe(_recipe(tmp_path, "{name: dask, dask: {address: 'tcp://127.0.0.1:8786'}}"))
    require_confirmed(here, "r.yaml", trust=False)


def test_external_memory_on_is_refused_naming_the_alternative(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: t\ndata: {source: sklearn, dataset: iris}\ntrain: {external_memory: 'on'}\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(path, engine="dask")
    assert "external_memory" in str(info.value) and "engine ray" in str(info.value)
    assert load_recipe(path, engine="local").train.external_memory == "on"  # other engines are unaffected


def test_dask_settings_are_ignored_by_other_engines_and_cleared_by_without_address(tmp_path):
    recipe = load_recipe(_recipe(tmp_path, "{name: local, dask: {address: 'tcp://10.1.2.3:8786'}}"))
    assert recipe.engine.settings.cluster_address is None
    on_dask = recipe.engine.model_copy(update={"name": "dask"})
    assert on_dask.settings.cluster_address == "tcp://10.1.2.3:8786"
    assert on_dask.without_address().settings.cluster_address is None


def _workers(*threads: int) -> list[WorkerInfo]:
    return [WorkerInfo(address=f"tcp://127.0.0.1:{9000 + i}", threads=t) for i, t in enumerate(threads)]


def test_workers_come_from_the_schedulers_info_most_threads_first():
    info = {
        "workers": {
            "tcp://b:1": {"nthreads": 1, "memory_limit": 2**30, "host": "b"},
            "tcp://a:1": {"nthreads": 4, "memory_limit": 0, "host": "a"},
            "tcp://c:1": {"nthreads": 1, "host": "c"},
        }
    }
    assert [(w.address, w.threads, w.memory) for w in workers_of(info)] == [
        ("tcp://a:1", 4, 0),
        ("tcp://b:1", 1, 2**30),
        ("tcp://c:1", 1, 0),
    ]


def test_the_layout_uses_engine_workers_of_the_cluster_with_their_threads():
    layout = train_layout(EngineConfig(name="dask", workers=2), _workers(4, 2, 1))
    assert [w.threads for w in layout.workers] == [4, 2] and layout.threads == 2
    assert layout.note and "2 of the cluster's 3" in layout.note
    exact = train_layout(EngineConfig(name="dask", workers=2), _workers(1, 1))
    assert exact.describe() == "2 worker(s) x 1 thread(s)" and exact.note is None
    sized = train_layout(EngineConfig(name="dask", workers=1, cpus_per_worker=2), _workers(1, 3))
    assert sized.addresses == ["tcp://127.0.0.1:9001"] and sized.threads == 2


@pytest.mark.parametrize(
    ("workers", "cpus", "expected"),
    [
        (3, None, "engine.workers=3 is more than the Dask cluster's 2 worker(s); ask for at most 2"),
        (2, 2, "engine.workers=2 is more than the Dask cluster's 0 worker(s) with at least 2 thread(s)"),
    ],
)
def test_a_layout_the_cluster_cannot_hold_is_refused(workers, cpus, expected):
    with pytest.raises(RecipeError) as info:
        train_layout(EngineConfig(name="dask", workers=workers, cpus_per_worker=cpus), _workers(1, 1))
    assert str(info.value).startswith(expected)


def test_a_private_cluster_shares_this_machines_cpus():
    assert private_shape(EngineConfig(name="dask", workers=2), 4) == (2, 2)
    assert private_shape(EngineConfig(name="dask", workers=1, cpus_per_worker=3), 4) == (1, 3)
    with pytest.raises(RecipeError, match="more than this machine's 2 CPU"):
        private_shape(EngineConfig(name="dask", workers=3), 2)
    with pytest.raises(RecipeError, match="more than this machine's 4 CPU"):
        private_shape(EngineConfig(name="dask", workers=2, cpus_per_worker=3), 4)


def test_the_version_gate_wants_dask_and_distributed_alike():
    same = {**GOOD, "dask": "2026.8.0", "distributed": "2026.8.0"}
    assert versions.known_bad(same, engine="dask") is None
    assert versions.known_bad({**same, "distributed": "2026.9.0"}, engine="dask") == (
        "dask 2026.8.0 and distributed 2026.9.0 differ: engine dask needs the same version of both "
        "(pip install 'dask[dataframe]==2026.9.0')"
    )
    assert versions.known_bad({**same, "distributed": None}, engine="dask").startswith(
        "engine dask needs distributed: pip install"
    )
    assert versions.known_bad({**same, "dask": "2024.1.0", "distributed": "2024.1.0"}, engine="dask") == (
        "dask 2024.1.0 is too old for engine dask: mlscale needs dask >= 2026.8 (tested 2026.8 to <2027)"
    )
    assert versions.known_bad({**GOOD, "dask": None}, engine="local") is None  # local never needs dask


SCHEMA = FeatureSchema(
    target="y", task="binary", features=["x", "c"], categories={"c": ["a", "b", "c"]}, classes=["no", "yes"]
)
DTYPES = {"x": np.dtype("float64"), "c": pd.CategoricalDtype(["a", "b", "c"])}


def test_a_partition_missing_categories_still_gets_the_schemas_fixed_dtype():
    part = pd.DataFrame({"x": [1, 2], "c": ["b", "b"], "y": ["yes", "no"]})  # no a, no c; x read as int
    typed = typed_part(part, SCHEMA, DTYPES)
    assert typed["c"].dtype == pd.CategoricalDtype(["a", "b", "c"])
    assert typed["c"].cat.codes.tolist() == [1, 1]
    assert typed["x"].dtype == np.float64
    assert typed[LABEL].tolist() == [1, 0]
    empty = typed_part(part.iloc[:0], SCHEMA, DTYPES)
    assert empty["c"].dtype == pd.CategoricalDtype(["a", "b", "c"]) and len(empty) == 0


def test_a_worker_reads_exactly_its_train_and_valid_rows_once_per_file(tmp_path):
    frames = [
        pd.DataFrame({"x": [0.0, 1, 2, 3], "c": ["a", "b", "c", "a"], "y": ["no", "yes", "no", "yes"]}),
        pd.DataFrame({"x": [4.0, 5, 6], "c": ["c", "c", "b"], "y": ["yes", "no", "yes"]}),
    ]
    paths = []
    for i, frame in enumerate(frames):
        paths.append(str(tmp_path / f"p{i}.csv"))
        frame.to_csv(paths[-1], index=False)
    files = [(paths[0], 0, 4), (paths[1], 4, 3)]
    train, valid = read_worker_rows(
        "csv", files, np.array([1, 2, 5]), np.array([3, 6]), SCHEMA.to_dict(), DTYPES
    )
    assert train["x"].tolist() == [1.0, 2.0, 5.0] and train[LABEL].tolist() == [1, 0, 0]
    assert valid["x"].tolist() == [3.0, 6.0] and valid["c"].tolist() == ["a", "b"]
    assert train["c"].dtype == valid["c"].dtype == pd.CategoricalDtype(["a", "b", "c"])


def test_plan_without_address_does_not_import_dask():
    code = (
        "import sys; from mlscale.workflow.run import plan; "
        f"p = plan({str(REPO / 'recipes' / 'breast_cancer.yaml')!r}, engine='dask');"
        "print('distributed' in sys.modules, dict(p.engine.steps)['train'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith("False 1 worker(s) x ")


def test_plan_says_trials_and_input_files_run_on_the_workers():
    from mlscale.engines.dask.engine import DaskEngine
    from mlscale.recipe import load_recipe

    recipe = load_recipe(
        Path(__file__).resolve().parents[2] / "recipes/breast_cancer.yaml",
        overrides={"engine.name": "dask", "predict.input": "in/", "predict.output": "out/"},
    )
    steps = dict(DaskEngine(recipe.engine).plan(recipe.train, recipe.tune, recipe.predict).steps)
    assert "on the workers" in steps["tune"] and "in this process" not in steps["tune"]
    assert steps["predict"].startswith("a task per input file on the workers, each writes its part")


@pytest.mark.parametrize(
    ("dask", "expected"),
    [
        ("{adapt: {minimum: 3, maximum: 2}}", "engine.dask.adapt: minimum must be <= maximum, got 3 > 2"),
        ("{adapt: {minimum: 1}}", "engine.dask.adapt.maximum is required"),
        (
            "{adapt: {maximum: 2}, address: 'tcp://127.0.0.1:8786'}",
            "engine.dask: adapt scales the private LocalCluster only",
        ),
    ],
)
def test_an_adaptive_range_is_checked_with_the_recipe(tmp_path, dask, expected):
    with pytest.raises(RecipeError) as info:
        load_recipe(_recipe(tmp_path, f"{{name: dask, dask: {dask}}}"))
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_an_adaptive_private_cluster_is_sized_for_its_maximum():
    adapt = {"adapt": {"minimum": 0, "maximum": 2}}
    assert private_shape(EngineConfig(name="dask", workers=1, dask=adapt), 4) == (2, 2)
    with pytest.raises(RecipeError, match=r"^engine.workers=3 is more than engine.dask.adapt.maximum=2: "):
        private_shape(EngineConfig(name="dask", workers=3, dask=adapt), 8)
    with pytest.raises(RecipeError, match=r"^engine.dask.adapt.maximum=4 is more than this machine's 2 CPU"):
        private_shape(EngineConfig(name="dask", dask={"adapt": {"maximum": 4}}), 2)


def test_plan_says_the_adaptive_range_and_what_the_run_asks_for(tmp_path, run_cli):
    from mlscale.workflow.run import plan

    recipe = str(REPO / "recipes/breast_cancer.yaml")
    sets = {"engine.name": "dask", "engine.workers": 2, "engine.dask.adapt": {"maximum": 2}}
    steps = dict(plan(recipe, overrides=sets).engine.steps)
    assert "adaptive, 0 to 2 worker(s)" in steps["cluster"] and steps["train"].startswith("2 worker(s)")
    assert steps["scale"].startswith("keeps 2 worker(s) up for training and waits up to 600 s")
    result = run_cli(
        "plan",
        recipe,
        "--engine",
        "dask",
        "--set",
        "engine.workers=3",
        "--set",
        "engine.dask.adapt={maximum: 2}",
    )
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0
    assert "engine.workers=3 is more than engine.dask.adapt.maximum=2" in result.stderr


def test_tuning_asks_for_the_workers_its_trials_at_once_fill():
    from mlscale.engines.dask.tuning import Growth

    growth = Growth(most_workers=3, slots_each=2, keep=lambda n: None)
    assert [growth.workers_for(n) for n in (0, 1, 2, 3, 5, 6, 9)] == [1, 1, 1, 2, 3, 3, 3]


class _FakeScheduler:
    def __init__(self, workers: dict | None) -> None:
        self.workers = workers

    async def identity(self, n_workers: int = 0) -> dict:
        if self.workers is None:
            raise OSError("Timed out trying to connect to the scheduler")
        return {"type": "Scheduler", "workers": self.workers}


class _FakeClient:
    """What distributed's Client does with an identity request: `sync` runs it; `scheduler_info()` swallows
    an OSError and returns its cached copy, which the periodic refresh (`identity(n_workers=0)`) keeps
    without any worker."""

    def __init__(self, workers: dict | None) -> None:
        self.scheduler = _FakeScheduler(workers)

    def sync(self, func, *args, **kwargs):
        import asyncio

        return asyncio.run(func(*args, **kwargs))

    def scheduler_info(self, n_workers: int = -1) -> dict:
        return {"type": "Scheduler", "workers": {}}


def test_a_scheduler_that_does_not_answer_in_time_is_not_a_lost_worker() -> None:
    from mlscale.engines.dask.connection import check_workers

    check_workers(_FakeClient(None), ["tcp://127.0.0.1:41001"], doing="training")  # no EngineError


def test_a_worker_the_scheduler_no_longer_lists_has_left() -> None:
    from mlscale.engines.dask.connection import check_workers
    from mlscale.errors import EngineError

    client = _FakeClient({"tcp://127.0.0.1:41002": {}})
    check_workers(client, ["tcp://127.0.0.1:41002"], doing="training")
    with pytest.raises(EngineError, match=r"^dask: worker tcp://127.0.0.1:41001 left the cluster during"):
        check_workers(client, ["tcp://127.0.0.1:41001"], doing="training")
