"""A recipe does not decide where credentials go: remote endpoints only the recipe file names are refused
unless the user confirms them; validate and plan say what a run would reach without contacting it.

No test here connects anywhere: refused endpoints are refused before any connection, and the plan of a
recipe-only address is made for this machine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlscale import RecipeError
from mlscale.recipe import load_recipe
from mlscale.recipe.trust import TRUST_ENV, describe_reach, host_of, require_confirmed

REMOTE = """\
name: remote
data: {source: sklearn, dataset: breast_cancer}
engine: {name: ray, address: "ray://10.1.2.3:10001"}
mlflow: {tracking_uri: "https://mlflow.example.com"}
"""


@pytest.fixture
def remote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv(TRUST_ENV, raising=False)
    path = tmp_path / "remote.yaml"
    path.write_text(REMOTE)
    return path


@pytest.mark.parametrize(
    ("key", "value", "host"),
    [
        ("engine.ray.address", "auto", None),
        ("engine.ray.address", "127.0.0.1:6379", None),
        ("engine.ray.address", "localhost:6379", None),
        ("engine.ray.address", "ray://127.0.0.1:10001", None),
        ("engine.ray.address", "10.1.2.3:6379", "10.1.2.3"),
        ("engine.ray.address", "ray://head.example.com:10001", "head.example.com"),
        ("mlflow.tracking_uri", "sqlite:///mlflow.db", None),
        ("mlflow.tracking_uri", "/tmp/mlruns", None),
        ("mlflow.tracking_uri", "http://127.0.0.1:5000", None),
        ("mlflow.tracking_uri", "https://mlflow.example.com", "mlflow.example.com"),
        ("mlflow.tracking_uri", "http://alice:pw@10.0.0.9:5000", "10.0.0.9"),
        ("mlflow.tracking_uri", "databricks://profile", "profile"),
    ],
)
def test_which_endpoints_leave_the_machine(key: str, value: str, host: str | None) -> None:
    assert host_of(key, value) == host


def test_endpoints_named_by_the_recipe_alone_need_confirmation(remote: Path, tmp_path: Path) -> None:
    assert load_recipe(remote)._unconfirmed == ("engine.ray.address", "mlflow.tracking_uri")
    confirmed = load_recipe(remote, overrides=["engine.address=ray://10.1.2.3:10001"])
    assert confirmed._unconfirmed == ("mlflow.tracking_uri",)
    section = load_recipe(remote, overrides={"mlflow": {"tracking_uri": "https://mlflow.example.com"}})
    assert section._unconfirmed == ("engine.ray.address",)
    profile = tmp_path / "cluster.yaml"
    profile.write_text(
        "engine: {address: 'ray://10.1.2.3:10001'}\nmlflow: {tracking_uri: 'https://m.example'}\n"
    )
    assert load_recipe(remote, profiles=[profile])._unconfirmed == ()
    local = load_recipe(remote, overrides=["engine.address=auto", "mlflow.tracking_uri=sqlite:///m.db"])
    require_confirmed(local, "r.yaml", trust=False)  # nothing remote left


def test_refusal_is_one_line_and_names_the_ways_to_confirm(remote: Path, monkeypatch) -> None:
    recipe = load_recipe(remote)
    with pytest.raises(RecipeError) as info:
        require_confirmed(recipe, "remote.yaml", trust=False)
    assert str(info.value) == (
        "remote.yaml: engine.ray.address: only the recipe names this remote endpoint (host 10.1.2.3), and mlscale "
        "sends credentials only where you confirm: give it with --set engine.ray.address=..., in a --profile, or "
        "pass --trust-recipe (MLSCALE_TRUST_RECIPE=1)"
    )
    assert info.value.exit_code == 2
    require_confirmed(recipe, "remote.yaml", trust=True)
    monkeypatch.setenv(TRUST_ENV, "1")
    require_confirmed(recipe, "remote.yaml", trust=False)
    monkeypatch.delenv(TRUST_ENV)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///m.db")  # the recipe's URI is then not used
    only_uri = load_recipe(remote, overrides=["engine.address=auto"])
    require_confirmed(only_uri, "remote.yaml", trust=False)


def test_run_and_predict_refuse_before_anything_starts(
    remote: Path, tmp_path: Path, capsys, cli_state
) -> None:
    from mlscale.cli import main

    for args in (
        ["run", str(remote)],
        ["predict", str(remote), "--model", "runs:/x/model", "--input", "in.csv"],
    ):
        with pytest.raises(SystemExit) as info:
            main(args)
        assert info.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: {remote}: engine.ray.address: only the recipe")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["remote.yaml"]  # no mlflow.db, no output


def test_the_flag_reaches_every_command(remote: Path, monkeypatch, cli_state) -> None:
    import mlscale.planning
    import mlscale.runner
    import mlscale.submitting
    from mlscale.cli import main

    seen = {}

    def fake(name):
        def call(*args, **kwargs):
            seen[name] = kwargs["trust_recipe"]
            raise SystemExit(0)

        return call

    homes = {"run": mlscale.runner, "predict": mlscale.runner, "plan": mlscale.planning}
    for name in ("run", "predict", "plan", "submit"):
        monkeypatch.setattr(homes.get(name, mlscale.submitting), name, fake(name))
    extra = {"predict": ["--model", "m"], "submit": ["--address", "http://127.0.0.1:8265"]}
    for name in ("run", "predict", "plan", "submit"):
        with pytest.raises(SystemExit):
            main([name, str(remote), "--trust-recipe", *extra.get(name, [])])
    assert seen == {"run": True, "predict": True, "plan": True, "submit": True}


def test_validate_and_plan_say_what_a_run_would_reach_without_contacting_it(remote, capsys, cli_state):
    from mlscale.cli import main

    with pytest.raises(SystemExit) as info:
        main(["validate", str(remote), "--set", "data.preprocess=subprocess:run"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "# engine.ray.address: ray://10.1.2.3:10001 (host 10.1.2.3; named by the recipe only" in out
    assert "# mlflow.tracking_uri: https://mlflow.example.com (host mlflow.example.com;" in out
    assert "# data.preprocess: imports and calls subprocess:run with your rights before training" in out
    with pytest.raises(SystemExit) as info:
        main(["plan", str(remote)])  # plans for this machine: 10.1.2.3 is never contacted
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "engine.ray.address ray://10.1.2.3:10001 is named by the recipe only and was not contacted" in out
    assert "a new local Ray instance" in out


def test_describe_reach_for_a_local_recipe(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("name: r\ndata: {source: sklearn, dataset: wine}\nengine: {address: '127.0.0.1:6379'}\n")
    assert describe_reach(load_recipe(path)) == ["engine.ray.address: 127.0.0.1:6379 (this machine)"]
