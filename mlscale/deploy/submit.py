"""`mlscale submit`: run a recipe as a Ray Job on a cluster, validated here and run there."""

from __future__ import annotations

import logging
import os
import shlex
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlscale.errors import RecipeError
from mlscale.recipe import Recipe, recipe_yaml
from mlscale.recipe.endpoint import Endpoint, checked_uri
from mlscale.recipe.resolve import resolve_recipe
from mlscale.recipe.trust import TRUST_ENV
from mlscale.util.masking import has_credentials, mask_text
from mlscale.util.scoped import restoring

log = logging.getLogger("mlscale")


@dataclass
class JobResult:
    job_id: str
    status: str  # SUCCEEDED | FAILED | STOPPED | PENDING (not waited for)
    address: str


@restoring
def submit(
    recipe: str | Path | Recipe,
    *,
    address: str,
    wait: bool = True,
    engine: str | None = None,
    profiles: Iterable[str | Path] = (),
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
    python: str | None = None,
    pip: bool | None = None,
    on_log: Callable[[str], None] | None = None,
    trust_recipe: bool = False,
) -> JobResult:
    """Run a recipe as a Ray Job on a cluster (`mlscale submit`): validated here, run there.

    The job gets the resolved recipe as its working dir and this mlscale as a py_module. On a cluster on
    this machine the job runs this interpreter (no installs); elsewhere it runs `python` and, unless
    pip=False, installs mlscale's requirements in the job's runtime env.
    """
    dashboard = _dashboard(address)
    resolved = resolve_recipe(recipe, engine=engine, profiles=profiles, overrides=overrides)
    recipe, source = resolved.confirm(trust=trust_recipe).recipe, resolved.source
    if recipe.engine.name == "ray" and not recipe.engine.ray.address:
        recipe = recipe.model_copy(update={"engine": recipe.engine.with_ray(address="auto")})
    local = dashboard.local
    env_vars = {"PYTHONUNBUFFERED": "1", TRUST_ENV: "1"}  # confirmed here; the job runs the resolved recipe
    # `ray job stop` sends SIGTERM, then SIGKILL after this many seconds (Ray's default, 3, is too short to
    # mark the MLflow run KILLED and stop the engine's actors)
    env_vars[STOP_WAIT_ENV] = os.environ.get(STOP_WAIT_ENV, "30")
    if os.environ.get("RAY_AUTH_MODE"):
        env_vars["RAY_AUTH_MODE"] = os.environ["RAY_AUTH_MODE"]  # the mode only: the token stays here
    uri = recipe.mlflow.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    _check_job_uri(uri, where="mlflow.tracking_uri" if recipe.mlflow.tracking_uri else "MLFLOW_TRACKING_URI")
    if uri and recipe.mlflow.tracking_uri is None:
        env_vars["MLFLOW_TRACKING_URI"] = uri
    if not (uri or "").startswith(("http://", "https://", "databricks")):
        log.warning(
            "submit: the job logs to %s on the cluster; use an http:// tracking server "
            "(mlflow.tracking_uri or MLFLOW_TRACKING_URI) to see the run from here",
            mask_text(uri or "a sqlite file in the job's working dir"),
        )
    interpreter = python or (sys.executable if local else "python")
    requirements = _requirements() if (pip if pip is not None else not local) else None
    from mlscale.deploy.ray_jobs import submit_job

    verbose = " --verbose" if log.isEnabledFor(logging.DEBUG) else ""
    with tempfile.TemporaryDirectory(prefix="mlscale-job-") as tmp:
        (Path(tmp) / "recipe.yaml").write_text(recipe_yaml(recipe))
        job_id, status = submit_job(
            address=address,
            entrypoint=f"{shlex.quote(interpreter)} -m mlscale.deploy.job_entry run recipe.yaml{verbose}",
            working_dir=Path(tmp),
            env_vars=env_vars,
            pip=requirements,
            wait=wait,
            on_log=on_log or _print_log,
        )
    log.info("ray job %s (%s): %s", job_id, source, status)
    return JobResult(job_id=job_id, status=status, address=address)


STOP_WAIT_ENV = "RAY_JOB_STOP_WAIT_TIME_S"


def _check_job_uri(uri: str | None, *, where: str) -> None:
    """A job's env vars show in `ray job list` and its recipe is uploaded to the cluster: no credentials."""
    if uri and has_credentials(uri):
        raise RecipeError(
            f"submit: {where} {mask_text(uri)} holds credentials, which the job would carry to the cluster "
            "(its runtime env shows in `ray job list`); use the URI without them and set "
            "MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD on the cluster"
        )


def _print_log(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _dashboard(address: str) -> Endpoint:
    """The dashboard's http(s)://host:port, parsed as the trust rule parses URIs (one parse decides whether
    the cluster is on this machine and names the host the Jobs client connects to)."""
    endpoint = checked_uri(address, "--address")
    if endpoint.scheme not in ("http", "https"):
        raise RecipeError(
            f"--address must be the Ray dashboard's http://host:port (Jobs API), got {mask_text(address)!r}"
        )
    return endpoint


def _requirements() -> list[str]:
    """mlscale's own runtime requirements (no extras), for a job's runtime env on a remote cluster."""
    from importlib.metadata import PackageNotFoundError, requires

    try:
        reqs = requires("mlscale") or []
    except PackageNotFoundError:
        return []
    return [r.split(";")[0].strip() for r in reqs if "extra ==" not in r]
