"""A recipe does not decide where credentials go: remote endpoints only the recipe file names are refused
unless the user confirms them; validate and plan say what a run would reach without contacting it.

No test here connects anywhere: refused endpoints are refused before any connection, and the plan of a
recipe-only address is made for this machine.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import yaml
from conftest import serving

from mlscale import RecipeError
from mlscale.recipe import load_recipe
from mlscale.recipe.trust import TRUST_ENV, describe_reach, host_of, require_confirmed
from mlscale.tracking.runs import resolve_uri

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
    import mlscale.deploy.submit
    import mlscale.workflow.plan
    import mlscale.workflow.run
    from mlscale.cli import main

    seen = {}

    def fake(name):
        def call(*args, **kwargs):
            seen[name] = kwargs["trust_recipe"]
            raise SystemExit(0)

        return call

    homes = {"run": mlscale.workflow.run, "predict": mlscale.workflow.run, "plan": mlscale.workflow.plan}
    for name in ("run", "predict", "plan", "submit"):
        monkeypatch.setattr(homes.get(name, mlscale.deploy.submit), name, fake(name))
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


# --- item 7: one parse for the decision and the connection ------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    """Stands in for the host an ambiguous URI really reaches: records every request it gets."""

    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization")))
        self.send_response(404)
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[int]:
    _Recorder.seen = []
    with serving(_Recorder) as port:
        yield port


def test_an_ambiguous_tracking_uri_is_refused_and_nothing_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recorder: int, run_cli
) -> None:
    """urllib reads host 127.0.0.1 (this machine, no confirmation), requests connects to localhost:<port>
    with the MLflow token: refused when the recipe validates, before anything connects."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv(TRUST_ENV, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "t0ken")
    uri = f"http://localhost:{recorder}\\@127.0.0.1:5000"
    path = tmp_path / "r.yaml"
    path.write_text(f"name: r\ndata: {{source: sklearn, dataset: iris}}\nmlflow: {{tracking_uri: '{uri}'}}\n")
    for args in (
        ["validate", path],
        ["predict", path, "--model", "models:/m/1", "--input", "in.csv", "--output", "p.parquet"],
    ):
        done = run_cli(*args, cwd=tmp_path)
        assert done.returncode == 2
        assert done.stderr.splitlines() == [
            f"error: {path}: mlflow.tracking_uri: the URI holds '\\' before its path, where HTTP clients and "
            "urllib disagree on the host; remove it"
        ]
    assert _Recorder.seen == []
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with pytest.raises(RecipeError, match=r"^MLFLOW_TRACKING_URI: the URI holds '"):
        resolve_uri(None)


@pytest.mark.parametrize(
    ("key", "value", "host"),
    [
        ("engine.ray.address", "127.0.0.1.evil.example:6379", "127.0.0.1.evil.example"),
        ("mlflow.tracking_uri", "http://127.0.0.1.evil.example:5000", "127.0.0.1.evil.example"),
        ("engine.ray.address", "[::1]:6379", None),
        ("mlflow.tracking_uri", "http://[::1]:5000", None),
        ("mlflow.tracking_uri", "http://127.1:5000", "127.1"),  # not what ipaddress calls loopback
        ("engine.ray.storage_path", "s3://bucket/ckpt", "bucket"),
        ("engine.ray.storage_path", "/mnt/shared/ckpt", None),
    ],
)
def test_this_machine_is_a_loopback_address_or_localhost_only(key: str, value: str, host: str | None) -> None:
    assert host_of(key, value) == host


def test_submit_decides_this_machine_with_the_same_parse() -> None:
    from mlscale.deploy.submit import _dashboard

    assert _dashboard("http://127.0.0.1:8265").local
    assert not _dashboard("http://127.0.0.1.evil.example:8265").local
    with pytest.raises(RecipeError, match=r"^--address: the URI holds '\\' before its path"):
        _dashboard("http://evil:8265\\@127.0.0.1:8265")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("evil:1@127.0.0.1:6379", "the address holds '@' (a Ray address has no user info)"),
        ("ray://h:10001/x", "the address has something after host:port"),
        ("http://h:8265", "the address is a http:// URL"),
        ("head", "the address has no port"),
        ("h:1\t", "the address holds the unprintable character '\\t'"),
    ],
)
def test_a_ray_address_ray_would_read_another_way_is_refused(
    tmp_path: Path, value: str, problem: str
) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("name: r\ndata: {source: sklearn, dataset: iris}\nengine: {name: ray}\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(path, overrides={"engine.ray.address": value})
    assert str(info.value).startswith(f"{path}: engine.ray.address: {problem}")


# --- item 8: a hook only the recipe names -----------------------------------------------------------------


def test_a_recipe_named_hook_is_not_called_without_confirmation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli
) -> None:
    """`subprocess.run(df)` runs the column names: the recipe would run `sh -c 'touch <file>'`."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv(TRUST_ENV, raising=False)
    victim = tmp_path / "pwned"
    (tmp_path / "data.csv").write_text(f"sh,-c,touch {victim},label\n1,2,3,0\n4,5,6,1\n")
    path = tmp_path / "r.yaml"
    path.write_text(
        "name: r\ndata: {source: csv, path: data.csv, target: label, preprocess: 'subprocess:run'}\n"
    )
    done = run_cli("run", path, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: {path}: data.preprocess: only the recipe names this hook (subprocess:run), which mlscale would "
        "import and call with your rights: confirm it with --set data.preprocess=..., in a --profile, or pass "
        "--trust-recipe (MLSCALE_TRUST_RECIPE=1)"
    ]
    assert not victim.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "r.yaml"]  # no store, no output
    assert load_recipe(path, overrides=["data.preprocess=subprocess:run"])._unconfirmed == ()


def test_the_hook_a_run_calls_is_named_on_the_terminal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from mlscale.data import prepare
    from mlscale.recipe.load import validate

    (tmp_path / "d.csv").write_text("a,label\n1,0\n2,1\n3,0\n4,1\n5,0\n6,1\n7,0\n8,1\n9,0\n10,1\n")
    data = {"source": "csv", "path": str(tmp_path / "d.csv"), "target": "label", "preprocess": "copy:copy"}
    with caplog.at_level("INFO", logger="mlscale"):
        prepare(validate({"name": "t", "data": data}), source="r.yaml")
    assert "data.preprocess: importing and calling copy:copy (your code, with your rights)" in caplog.messages


# --- item 9: every endpoint key, the engines' included, is guarded ----------------------------------------


def test_ray_storage_path_is_guarded_and_listed(remote: Path, run_cli) -> None:
    remote.write_text(
        "name: r\ndata: {source: sklearn, dataset: iris}\nengine: {name: ray, ray: {storage_path: 's3://bkt/ckpt'}}\n"
    )
    assert load_recipe(remote)._unconfirmed == ("engine.ray.storage_path",)
    assert load_recipe(remote, overrides=["engine.storage_path=s3://bkt/ckpt"])._unconfirmed == ()
    done = run_cli("run", remote)
    assert done.returncode == 2
    assert done.stderr.startswith(
        f"error: {remote}: engine.ray.storage_path: only the recipe names this remote endpoint (s3://bkt), and"
    )
    shown = run_cli("validate", remote).stdout
    assert "# engine.ray.storage_path: s3://bkt/ckpt (s3://bkt; named by the recipe only" in shown


def test_the_next_engine_declares_its_endpoints_and_is_guarded_with_no_change_to_the_rule() -> None:
    from typing import ClassVar

    from mlscale.recipe.endpoint import Guard
    from mlscale.recipe.section import Section
    from mlscale.recipe.trust import Guarded, _sections

    class DaskSettings(Section):
        endpoints: ClassVar[dict[str, Guard]] = {"scheduler": Guard("uri")}
        scheduler: str | None = None
        threads: int = 1

    class Engine(Section):
        dask: DaskSettings = DaskSettings()

    class Top(Section):
        engine: Engine | None = None

    assert list(_sections(Top, "")) == [Guarded("engine.dask.scheduler", "uri")]
    with pytest.raises(ValueError, match="holds '\\\\' before its path"):
        DaskSettings(scheduler="tcp://evil:1\\@127.0.0.1:8786")


# --- item 10: an output path only the recipe names stays under the working directory ----------------------


@pytest.mark.parametrize("output", ["../escaped.parquet", "/tmp/elsewhere/p.parquet", "link/p.parquet"])
def test_an_output_outside_the_working_directory_needs_confirmation(
    remote: Path, tmp_path: Path, output: str, run_cli
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "link").symlink_to(tmp_path, target_is_directory=True)  # inside by name, outside in fact
    (work / "in.csv").write_text("a\n1\n")
    remote.write_text(f"name: r\ndata: {{source: sklearn, dataset: iris}}\npredict: {{output: '{output}'}}\n")
    done = run_cli("predict", remote, "--model", "models:/m/1", "--input", "in.csv", cwd=work)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: {remote}: predict.output: only the recipe names this output path, outside the working "
        f"directory: {(work / output).resolve()}: write it under the working directory, or confirm it with "
        "--set predict.output=..., in a --profile, or pass --trust-recipe (MLSCALE_TRUST_RECIPE=1)"
    ]
    for confirmed in (
        load_recipe(remote, overrides={"predict.output": output}),  # --output / --set
        load_recipe(remote, overrides=["predict.output=out/p.parquet"]),
    ):
        require_confirmed(confirmed, "r.yaml", trust=False)
    require_confirmed(load_recipe(remote), "r.yaml", trust=True)


def test_an_output_under_the_working_directory_needs_none(remote: Path, tmp_path: Path) -> None:
    remote.write_text(
        f"name: r\ndata: {{source: sklearn, dataset: iris}}\npredict: {{output: '{tmp_path}/out/./p.parquet'}}\n"
    )
    recipe = load_recipe(remote)
    assert recipe._unconfirmed == ()
    assert [line for line in describe_reach(recipe) if line.startswith("predict")] == []


# --- item 14: the confirmation given at render time reaches the RayJob ------------------------------------


def test_kuberay_carries_the_confirmation_into_the_job(remote: Path, tmp_path: Path, run_cli) -> None:
    remote.write_text(
        "name: r\ndata: {source: sklearn, dataset: iris}\nmlflow: {tracking_uri: 'http://mlflow.invalid:5000'}\n"
    )
    refused = run_cli("kuberay", remote)
    assert refused.returncode == 2 and "mlflow.tracking_uri: only the recipe names" in refused.stderr
    rendered = run_cli("kuberay", remote, "--set", "mlflow.tracking_uri=http://mlflow.invalid:5000")
    assert rendered.returncode == 0
    docs = {d["kind"]: d for d in yaml.safe_load_all(rendered.stdout) if d}
    pod_recipe = tmp_path / "pod" / "recipe.yaml"  # what the head pod mounts at /recipes
    pod_recipe.parent.mkdir()
    pod_recipe.write_text(docs["ConfigMap"]["data"]["recipe.yaml"])
    argv = shlex.split(docs["RayJob"]["spec"]["entrypoint"].replace("/recipes/", f"{pod_recipe.parent}/"))
    assert argv[:2] == ["mlscale", "run"]
    done = run_cli(*argv[1:], cwd=pod_recipe.parent)  # the job's command, run here up to the tracking check
    assert done.returncode == 1, done.stderr
    assert "mlflow: tracking server http://mlflow.invalid:5000 does not answer" in done.stderr
