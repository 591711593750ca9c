"""Credentials in the tracking URI never show, however they are written and wherever a run writes.

A corpus of credentialed URIs against a real `mlflow server` on 127.0.0.1 (it has no auth: MLflow sends
the user info as basic auth, and the server takes any), and every output of a run: stdout, stderr (the
log, with -v), the error line, the run's and the trials' params and tags, every artifact (report.html,
recipe.yaml, plots, the model), the logged model and the registered version, and what `mlscale.run`
returns and prints.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import mlscale
from mlscale.errors import MlscaleError

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cr3tZ"  # in every credential below

# User infos a client can use: percent-encoded '/', '@', '#', '?' and '%', an empty user (':token@'), a
# token as the user.
USABLE = ["alice:{s}", "alice:p%2F%40%23%3F%25{s}", ":{s}", "{s}"]
# URIs no client can use, and the exit code: an unencoded '/', '#' or '?' in the password ends the host part
# (the host is then 'alice', the port a part of the password), a second '@' in the authority is read two
# ways (both refused as the recipe is validated: 2); the server's answers to a URI with a query are not
# MLflow's (1). The secret is on both sides of the delimiter: no part of it may show.
UNUSABLE = {
    "http://alice:{s}/2{s}@{host}": 2,
    "http://alice:{s}#{s}@{host}": 2,
    "http://alice:{s}?{s}@{host}": 2,
    "http://alice:{s}@{s}@{host}": 2,
    "http://{host}/?token={s}": 1,
}


def _recipe(workdir: Path, name: str) -> Path:
    recipe = yaml.safe_load((ROOT / "recipes/diabetes.yaml").read_text())
    recipe["train"].update(num_boost_round=5, early_stopping_rounds=None)
    recipe["tune"] = {"space": {"max_depth": {"randint": [2, 4]}}, "num_samples": 2}
    recipe["predict"] = None
    recipe["evaluate"] = {"reference": "off", "explain": {"sample_rows": 10}}
    recipe["mlflow"] = {"experiment": name, "registered_model": name, "promote": {}}
    path = workdir / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def _logged(server: str, experiment: str, tmp: Path) -> str:
    """Everything the server holds of an experiment's runs, read with a URI without credentials."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(server)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 3  # the parent and its two trials
    blob = repr(exp) + "".join(repr(r.data.params) + repr(r.data.tags) + repr(r.info) for r in runs)
    blob += repr(client.search_logged_models(experiment_ids=[exp.experiment_id]))
    blob += repr(client.search_model_versions(f"name = '{experiment}'"))
    for run in runs:
        local = Path(client.download_artifacts(run.info.run_id, "", str(tmp / run.info.run_id)))
        files = [p for p in local.rglob("*") if p.is_file()]
        blob += "".join(p.read_bytes().decode("utf-8", "replace") for p in files)
        if run.data.tags.get("mlflow.parentRunId") is None:
            assert {"recipe.yaml", "report"} <= {p.name for p in local.iterdir()}
    return blob


@pytest.mark.parametrize("userinfo", USABLE)
def test_a_verbose_cli_run_shows_no_credential(userinfo, mlflow_server, workdir, run_cli):
    uri = mlflow_server.replace("http://", f"http://{userinfo.format(s=SECRET)}@")
    name = f"creds_{USABLE.index(userinfo)}"
    done = run_cli("run", _recipe(workdir, name), "-v", "--set", f"mlflow.tracking_uri={uri}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert SECRET not in done.stdout + done.stderr
    assert "View run" not in done.stdout + done.stderr  # MLflow's own URL lines: off
    log = done.stderr.splitlines()
    assert any(line.startswith("DEBUG Created version '1' of model") for line in log), done.stderr[-3000:]
    assert f"{mlflow_server.removeprefix('http://')}/#/experiments/" in done.stdout  # mlscale's own, masked
    assert SECRET not in _logged(mlflow_server, name, workdir / "downloaded")


def test_the_library_prints_and_returns_no_credential(mlflow_server, workdir, capsys):
    uri = mlflow_server.replace("http://", f"http://alice:{SECRET}@")
    result = mlscale.run(_recipe(workdir, "creds_api"), overrides={"mlflow.tracking_uri": uri})
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    assert "View run" not in out and "Created version" not in err  # MLflow's lines: debug log only
    assert result.tracking_uri == mlflow_server.replace("http://", "http://alice:***@")
    assert SECRET not in repr(result)
    assert SECRET not in _logged(mlflow_server, "creds_api", workdir / "downloaded")


@pytest.mark.parametrize("verbose", [[], ["-v"]])
@pytest.mark.parametrize("form", list(UNUSABLE))
def test_the_error_line_shows_no_credential(form, verbose, mlflow_server, workdir, run_cli):
    uri = form.format(s=SECRET, host=mlflow_server.removeprefix("http://"))
    done = run_cli("run", _recipe(workdir, "creds_bad"), *verbose, "--set", f"mlflow.tracking_uri={uri}")
    assert done.returncode == UNUSABLE[form]
    assert SECRET not in done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr[-3000:]
    with pytest.raises(MlscaleError) as raised:  # the library's exception too
        mlscale.run(workdir / "r.yaml", overrides={"mlflow.tracking_uri": uri})
    assert SECRET not in str(raised.value)
