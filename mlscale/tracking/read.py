"""Reading a logged run back from MLflow (part of the tracking layer, with `tracking`): what
`mlscale report` needs to rebuild a run's page from the run alone."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from mlscale.errors import ReportError
from mlscale.tracking.client import open_client
from mlscale.tracking.runs import PARENT_TAG, run_url
from mlscale.util.masking import mask_text

_RUN_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    run_id: str
    experiment_id: str
    experiment: str
    status: str
    tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, float]
    tracking_uri: str

    @property
    def url(self) -> str:
        return run_url(self.tracking_uri, self.experiment_id, self.run_id)


@dataclass(frozen=True, kw_only=True)
class TrialRecord:
    trial_id: str
    status: str
    params: dict[str, str]
    metrics: dict[str, float]


def run_id_of(ref: str) -> str:
    """The run id in a run id, a runs:/ID/... URI or an MLflow UI link (.../runs/ID)."""
    text = ref.strip()
    if _RUN_ID.fullmatch(text):
        return text
    found = re.search(r"(?:^runs:/|/runs/)([0-9a-f]{32})(?:[/?#]|$)", text)
    if found is None:
        raise ReportError(f"report: {ref!r} is not a run id, a runs:/ URI or an MLflow run link")
    return found.group(1)


def read_run(uri: str, ref: str) -> RunRecord:
    client = open_client(uri)
    run_id = run_id_of(ref)
    try:
        run = client.get_run(run_id)
        experiment = client.get_experiment(run.info.experiment_id)
    except Exception as exc:
        raise ReportError(f"report: run {run_id} not found at {mask_text(uri)}") from exc
    return RunRecord(
        run_id=run_id,
        experiment_id=str(run.info.experiment_id),
        experiment=experiment.name,
        status=run.info.status,
        tags=dict(run.data.tags),
        params=dict(run.data.params),
        metrics={k: float(v) for k, v in run.data.metrics.items()},
        tracking_uri=uri,
    )


def metric_history(uri: str, run_id: str, key: str) -> list[float]:
    """A stepped metric (the learning curves' curve_<split>_<metric>) in step order."""
    points = open_client(uri).get_metric_history(run_id, key)
    return [float(p.value) for p in sorted(points, key=lambda p: p.step)]


def trial_runs(run: RunRecord) -> list[TrialRecord]:
    """The run's tune trials (its nested child runs), in trial order."""
    runs = open_client(run.tracking_uri).search_runs(
        [run.experiment_id], filter_string=f"tags.`{PARENT_TAG}` = '{run.run_id}'", max_results=5000
    )
    trials = [
        TrialRecord(
            trial_id=r.data.tags.get("mlscale.trial_id", r.info.run_name or r.info.run_id),
            status=r.data.tags.get("mlscale.trial_status", r.info.status.lower()),
            params=dict(r.data.params),
            metrics={k: float(v) for k, v in r.data.metrics.items()},
        )
        for r in runs
        if "mlscale.trial_id" in r.data.tags
    ]
    return sorted(trials, key=lambda t: _natural(t.trial_id))


def artifact_paths(uri: str, run_id: str, path: str | None = None) -> list[str]:
    """Artifact paths directly under `path` (the run's root when None)."""
    return [a.path for a in open_client(uri).list_artifacts(run_id, path)]


def download(uri: str, run_id: str, path: str, dst: Path) -> Path | None:
    """Download one artifact (file or directory) into dst; None when the run has no such artifact."""
    parent = path.rpartition("/")[0] or None
    if path not in artifact_paths(uri, run_id, parent):
        return None
    quiet = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR" not in os.environ  # no progress bars at a run's end
    if quiet:
        os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    try:
        return Path(open_client(uri).download_artifacts(run_id, path, str(dst)))
    finally:
        if quiet:
            os.environ.pop("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", None)


def _natural(text: str) -> tuple[object, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text))
