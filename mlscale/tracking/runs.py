"""The run being written: one parent run per `mlscale run` and its nested trial runs.

One parent run per `mlscale run`, one nested child run per tune trial, the model logged as a pyfunc
(models-from-code, no pickles) that restores categorical dtypes before predicting.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlscale.errors import TrackingError
from mlscale.modeling.model import Model
from mlscale.recipe.endpoint import checked_uri, parse_uri
from mlscale.results import TrialResult
from mlscale.tracking.client import open_client, store_init_lock
from mlscale.tracking.mlflow_lines import mlflow_lines
from mlscale.util.masking import MASK, mask_secrets, mask_text

log = logging.getLogger("mlscale")

DEFAULT_URI = "sqlite:///mlflow.db"
PARENT_TAG = "mlflow.parentRunId"
_UNSAFE_KEY_CHARS = re.compile(r"[^\w.\- :]")  # MLflow names allow these (and '/', which we avoid)
MAX_KEY_LENGTH = 250  # MLflow's limit for metric, param and tag names


def resolve_uri(recipe_uri: str | None) -> str:
    """MLFLOW_TRACKING_URI, then the recipe, then sqlite:///mlflow.db in the working directory."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or recipe_uri or DEFAULT_URI
    checked_uri(uri, "tracking URI" if uri == recipe_uri else "MLFLOW_TRACKING_URI")  # exit 2 if ambiguous
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = "sqlite:///" + str(Path(uri.removeprefix("sqlite:///")).resolve())
    return uri


def mlflow_key(name: str) -> str:
    """A metric, param or tag name MLflow accepts, from one built of user text (a column 'income ($)' in
    predict_unseen_<col>, an eval metric 'error@0.7' in curve_valid_<metric>): MLflow allows letters,
    digits, '_', '-', '.', ' ', ':' and '/' (a name that is not a clean path is refused, so '/' goes too);
    every other character becomes '_', and the name is cut to 250 characters."""
    key = _UNSAFE_KEY_CHARS.sub("_", name)[:MAX_KEY_LENGTH]
    return "_" + key[: MAX_KEY_LENGTH - 1] if key in ("", ".") or key.startswith("..") else key


def run_url(tracking_uri: str, experiment_id: str, run_id: str) -> str:
    """Where a person opens the run: the server's UI, or `mlflow ui` (default port) for a local store."""
    if tracking_uri.startswith(("http://", "https://")):
        base = mask_text(tracking_uri).rstrip("/")
    else:
        base = "http://127.0.0.1:5000"
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}"


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = json.dumps(v) if isinstance(v, (list, dict)) else str(v)
    return out


def check_reachable(uri: str, timeout: float = 3.0) -> None:
    """Fail fast, before any training, when a tracking server does not answer."""
    if uri.startswith(("http://", "https://")):
        import urllib.error
        import urllib.request

        try:
            request = _health_request(uri)
        except ValueError as exc:  # a port that is not a number, an unclosed '[': never print the password
            raise TrackingError(
                f"mlflow: tracking URI {mask_text(uri)} is not a valid URL ({_plain(exc, uri)})"
            ) from None
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                if resp.status >= 500:
                    raise TrackingError(
                        f"mlflow: tracking server {mask_text(uri)} answered HTTP {resp.status}"
                    )
        except urllib.error.HTTPError as exc:
            if exc.code >= 500:
                raise TrackingError(
                    f"mlflow: tracking server {mask_text(uri)} answered HTTP {exc.code}"
                ) from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = _plain(getattr(exc, "reason", exc), uri)
            raise TrackingError(
                f"mlflow: tracking server {mask_text(uri)} does not answer ({reason}); "
                "start it or set MLFLOW_TRACKING_URI / mlflow.tracking_uri"
            ) from None
    elif uri.startswith("sqlite:///"):
        parent = Path(uri.removeprefix("sqlite:///")).parent
        if not parent.is_dir() or not os.access(parent, os.W_OK):
            raise TrackingError(f"mlflow: cannot write the tracking database in {parent}")


def _health_request(uri: str) -> Any:
    """GET <uri>/health, with the URI's user:password (if any) as a basic-auth header, as MLflow's own
    client sends them: left in the host part, urllib takes 'alice:s3cr3t@host' for the host."""
    import base64
    import urllib.request
    from urllib.parse import unquote, urlunsplit

    parts = parse_uri(uri).parts  # the parse the trust rule decided on; ValueError for no host, a bad port
    host, port = parts.hostname or "", parts.port
    netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port is not None else "")
    url = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + "/health", "", ""))
    headers = {}
    if parts.username is not None or parts.password is not None:
        pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    return urllib.request.Request(url, headers=headers)


def _plain(reason: Any, uri: str) -> str:
    """An error's text without the URI's password, even where it is not part of a URI."""
    from urllib.parse import urlsplit

    text = mask_text(str(reason))
    try:
        password = urlsplit(uri).password
    except ValueError:
        password = None
    return text.replace(password, MASK) if password else text


@contextmanager
def scoped_tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's global tracking URI set for MLflow's fluent calls (log_model, register_model, downloads)
    and restored afterwards, with the MLFLOW_TRACKING_URI variable MLflow sets beside it: a notebook
    that calls mlscale keeps its own tracking URI. (MLflow's own `_use_tracking_uri` clears a
    MLFLOW_TRACKING_URI the user had set; its global is private, read here for that reason.)"""
    import mlflow
    from mlflow.tracking._tracking_service import utils

    previous, previous_env = utils._tracking_uri, os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)  # type: ignore[arg-type]  # None: unset, as it was
        if previous_env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = previous_env


class RunTracker:
    """The parent run of one `mlscale run`, and its nested trial runs."""

    def __init__(self, uri: str, experiment: str) -> None:
        self.uri = uri
        self.experiment = experiment
        try:
            with store_init_lock(uri):
                self.client = open_client(uri)
                self.experiment_id = self._experiment_id(experiment)
        except Exception as exc:
            raise TrackingError(
                f"mlflow: cannot open experiment {experiment!r} at {mask_text(uri)} ({exc})"
            ) from exc
        self.run_id: str | None = None
        self.model_version: str | None = None  # of mlflow.registered_model, once log_model registered it
        self._child_runs: dict[str, str] = {}

    def _experiment_id(self, name: str) -> str:
        """Get or create the experiment; another process creating it at the same moment is no error
        (measured: "UNIQUE constraint failed: experiments.workspace, experiments.name" on sqlite)."""
        exp = self.client.get_experiment_by_name(name)
        if exp is None:
            try:
                return str(self.client.create_experiment(name))
            except Exception:
                exp = self.client.get_experiment_by_name(name)
                if exp is None:
                    raise
        if exp.lifecycle_stage == "deleted":
            self.client.restore_experiment(exp.experiment_id)
        return str(exp.experiment_id)

    # -- the parent run ----------------------------------------------------------------
    def start(self, *, run_name: str | None, tags: Mapping[str, str], run_id: str | None = None) -> str:
        if run_id:
            self.run_id = run_id
            self.client.update_run(run_id, status="RUNNING")
            self._child_runs = self.existing_children()
        else:
            run = self.client.create_run(self.experiment_id, run_name=run_name, tags=dict(tags))
            self.run_id = run.info.run_id
        return self.run_id

    def interrupted_runs(self, recipe_hash: str, data_key: str) -> list[str]:
        """Parent runs of this recipe on this data that did not finish (killed, failed or still RUNNING),
        newest first."""
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=(
                f"tags.`recipe.hash` = '{recipe_hash}' and tags.`recipe.data_key` = '{data_key}' "
                "and attributes.status != 'FINISHED'"
            ),
            order_by=["attributes.start_time DESC"],
            max_results=20,
        )
        return [r.info.run_id for r in runs if PARENT_TAG not in r.data.tags]

    def existing_children(self) -> dict[str, str]:
        runs = self.client.search_runs(
            [self.experiment_id], filter_string=f"tags.`{PARENT_TAG}` = '{self.run_id}'", max_results=5000
        )
        return {r.data.tags.get("mlscale.trial_id", r.info.run_id): r.info.run_id for r in runs}

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        flat = {mlflow_key(k): str(v)[:6000] for k, v in flatten(mask_secrets(params)).items()}
        items = [Param(k, v) for k, v in flat.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(self._rid, params=items[i : i + 100])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        items = [RunTag(mlflow_key(k), mask_text(str(v))[:5000]) for k, v in tags.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(self._rid, tags=items[i : i + 100])

    def log_metrics(self, metrics: Mapping[str, float], *, run_id: str | None = None, step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        values = {mlflow_key(k): float(v) for k, v in metrics.items() if _finite(v)}
        items = [Metric(k, v, now, step) for k, v in values.items()]
        for i in range(0, len(items), 1000):
            self.client.log_batch(run_id or self._rid, metrics=items[i : i + 1000])

    def log_history(self, history: Mapping[str, Mapping[str, list[float]]]) -> None:
        """Per-round learning curves as stepped metrics (curve_valid_logloss, ...)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [
            Metric(mlflow_key(f"curve_{split}_{name}"), float(v), now, step)
            for split, metrics in history.items()
            for name, values in metrics.items()
            for step, v in enumerate(values)
            if _finite(v)
        ]
        for i in range(0, len(items), 1000):
            self.client.log_batch(self._rid, metrics=items[i : i + 1000])

    def log_text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self._rid, text, artifact_file)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self._rid, str(path), artifact_path)

    def log_metrics_quietly(self, metrics: Mapping[str, float]) -> None:
        """Best effort, for a run that is failing: the original error matters more than these."""
        if self.run_id is None or not metrics:
            return
        try:
            self.log_metrics(metrics)
        except Exception as exc:
            log.warning("mlflow: could not log metrics of failing run %s (%s)", self.run_id, exc)

    @mlflow_lines()
    def finish(self, status: str = "FINISHED", error: str | None = None) -> None:
        if self.run_id is None:
            return
        try:
            if error:
                self.client.set_tag(self.run_id, "mlscale.error", mask_text(error)[:5000])
            self.client.set_terminated(self.run_id, status=status)
        except Exception as exc:  # the original failure matters more than a failed close
            log.warning("mlflow: could not mark run %s %s (%s)", self.run_id, status, exc)

    @property
    def _rid(self) -> str:
        if self.run_id is None:
            raise TrackingError("mlflow: no run started")
        return self.run_id

    # -- trials ------------------------------------------------------------------------
    @mlflow_lines()
    def log_trial(self, trial: TrialResult) -> str:
        """One nested child run per trial; an already logged trial (resume) is not logged twice."""
        if trial.trial_id in self._child_runs:
            return self._child_runs[trial.trial_id]
        run = self.client.create_run(
            self.experiment_id,
            run_name=trial.trial_id,
            tags={
                PARENT_TAG: self._rid,
                "mlscale.trial_id": trial.trial_id,
                "mlscale.trial_status": trial.status,
            },
        )
        rid = run.info.run_id
        self._child_runs[trial.trial_id] = rid
        from mlflow.entities import Param

        params = [Param(mlflow_key(k), str(v)) for k, v in trial.params.items()]
        self.client.log_batch(rid, params=params)
        self.log_metrics(
            {
                **trial.metrics,
                "tune_metric": trial.metric,
                "trial_time_s": trial.seconds,
                "rounds": trial.rounds,
            },
            run_id=rid,
        )
        if trial.model is not None:
            with tempfile.TemporaryDirectory() as tmp:
                trial.model.save(tmp)
                self.client.log_artifacts(rid, tmp, "trial_model")
        self.client.set_terminated(rid, status="FINISHED" if trial.status != "failed" else "FAILED")
        return rid

    # -- the model ---------------------------------------------------------------------
    @mlflow_lines()
    def log_model(self, model: Model, *, example: Any = None, registered_model: str | None = None) -> str:
        """Log the model as a pyfunc (models-from-code + xgboost UBJ + schema); returns its URI."""
        import mlflow

        with tempfile.TemporaryDirectory() as tmp:
            model_dir = model.save(Path(tmp) / "mlscale_model")
            signature = example_in = None
            if example is not None and len(example):
                example_in = model.example_frame(example.head(5))
                signature = _signature(example_in, model.serve_frame(example_in))
            with (
                warnings.catch_warnings(),
                scoped_tracking_uri(self.uri),
                mlflow.start_run(run_id=self._rid, nested=mlflow.active_run() is not None),
            ):
                warnings.simplefilter("ignore")  # pyfunc type-hint advice; our schema is the signature
                info = mlflow.pyfunc.log_model(
                    name="model",
                    python_model=str(Path(__file__).with_name("_pyfunc_model.py")),
                    artifacts={"mlscale_model": str(model_dir)},
                    signature=signature,
                    input_example=example_in,
                    pip_requirements=_requirements(),
                )
        uri = f"runs:/{self._rid}/model"
        self.set_tags({"mlscale.model_uri": info.model_uri, "mlscale.model_runs_uri": uri})
        if registered_model:
            try:
                with scoped_tracking_uri(self.uri):
                    version = mlflow.register_model(info.model_uri, registered_model)
            except Exception as exc:
                raise TrackingError(f"mlflow: cannot register model {registered_model!r} ({exc})") from exc
            self.model_version = str(version.version)
            self.set_tags({"mlscale.registered_model": f"models:/{registered_model}/{version.version}"})
        return info.model_uri


def _signature(example: Any, output: Any) -> Any:
    """Each feature by name, of type `Any`: MLflow's `double` refuses an int64 column and its `string` a
    column pandas read as numbers (digits only, or all blank); the model types each column itself (see
    docs/guide.md, "Serving the model"). The outputs as the model returns them."""
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types.schema import AnyType, ColSpec, Schema

    with warnings.catch_warnings():  # its integer-column hint concerns the inputs, declared here
        warnings.simplefilter("ignore", UserWarning)
        outputs = infer_signature(example, output).outputs
    return ModelSignature(
        inputs=Schema([ColSpec(AnyType(), str(c)) for c in example.columns]), outputs=outputs
    )


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in ("mlflow", "xgboost", "pandas", "pyarrow", "scikit-learn")]


def _finite(v: Any) -> bool:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return False
    return f == f and f not in (float("inf"), float("-inf"))


def search_runs(
    uri: str, experiment: str | None, *, run_ids: list[str] | None = None, filter_string: str = ""
) -> Any:
    """Runs as a pandas frame, for `mlscale compare`."""
    import mlflow

    if run_ids:
        client = open_client(uri)
        rows = []
        for rid in run_ids:
            try:
                rows.append(client.get_run(rid))
            except Exception as exc:
                raise TrackingError(f"mlflow: run {rid} not found at {mask_text(uri)}") from exc
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "run_id": r.info.run_id,
                    **{f"metrics.{k}": v for k, v in r.data.metrics.items()},
                    **{f"tags.{k}": v for k, v in r.data.tags.items()},
                    **{f"params.{k}": v for k, v in r.data.params.items()},
                }
                for r in rows
            ]
        )
    names = [experiment] if experiment else None
    with scoped_tracking_uri(uri):
        return mlflow.search_runs(
            experiment_names=names, filter_string=filter_string, search_all_experiments=names is None
        )
