"""Ray Jobs submission: run a recipe on a cluster through the dashboard's Jobs API.

Not an engine operation: the job runs `mlscale run` on the cluster, where the engine is chosen as usual.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray.job_submission import JobSubmissionClient

from mlscale.engines.ray.connection import AUTH_HINT, PACKAGE_DIR, describe, token_mode_if_available
from mlscale.errors import EngineError

log = logging.getLogger("mlscale")


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
    token_mode_if_available()  # the Jobs client sends the token as an HTTP header
    try:
        client = JobSubmissionClient(address)
        runtime_env: dict[str, Any] = {
            "working_dir": str(working_dir),
            "py_modules": [str(PACKAGE_DIR)],  # the submitter's mlscale, same version
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
    return job_id, _follow(client, job_id, on_log)


def _follow(client: JobSubmissionClient, job_id: str, on_log: Callable[[str], None]) -> str:
    """Stream a job's new log text every second until it ends; its final status."""
    printed = 0
    try:
        while True:
            status = client.get_job_status(job_id)
            text = client.get_job_logs(job_id)
            if len(text) > printed:
                on_log(text[printed:])
                printed = len(text)
            if status.is_terminal():
                return str(status.value)
            time.sleep(1.0)
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            client.stop_job(job_id)
        raise


def _jobs_message(address: str, exc: BaseException) -> str:
    text, auth = describe(exc)
    if auth:
        return f"ray jobs: {address} refused the request: {AUTH_HINT} ({text})"
    return (
        f"ray jobs: cannot submit to {address} ({text}); is the dashboard up (ray start --include-dashboard)?"
    )
