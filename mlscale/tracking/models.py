"""The tracking layer's model side: an mlscale model back from a directory, a run or MLflow's registry."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from mlscale.errors import ModelError
from mlscale.modeling.model import MODEL_FILE, SCHEMA_FILE, Model
from mlscale.tracking.runs import scoped_tracking_uri
from mlscale.util.masking import mask_text
from mlscale.util.text import first_line


def load_model(ref: str, *, tracking_uri: str, where: str = "predict.model") -> Model:
    """An mlscale Model from a path, a run id or an MLflow model URI (never from anywhere else).

    Every URI form MLflow 3 hands out is taken: `runs:/<id>/model`, `models:/m-<id>` (the logged model,
    as the UI and `mlscale.model_uri` show it), `models:/<name>/<version>`, `models:/<name>@<alias>`. The
    whole model is downloaded and mlscale's artifact is found inside it, so no form depends on how MLflow
    maps a sub-path of that URI; a trial's plain model directory (`runs:/<id>/trial_model`) is taken too.
    """
    if Path(ref).is_dir():
        return _load_local(Path(ref), ref, where)
    import mlflow

    uri = ref
    if re.fullmatch(r"[0-9a-f]{32}", ref):
        uri = f"runs:/{ref}/model"
    if not uri.startswith(("runs:/", "models:/")):
        raise ModelError(
            f"{where}: {ref!r} is not a model directory, a run id, or a runs:/ or models:/ URI "
            "(runs:/<id>/model, models:/m-<id>, models:/<name>/<version>, models:/<name>@<alias>)"
        )
    # Downloaded into a directory of ours, removed once the model is in memory (MLflow's own default is
    # a fresh temp directory per call, never removed).
    with tempfile.TemporaryDirectory(prefix="mlscale-model-") as tmp, scoped_tracking_uri(tracking_uri):
        try:
            local = mlflow.artifacts.download_artifacts(artifact_uri=uri.rstrip("/"), dst_path=tmp)
        except Exception as exc:
            raise ModelError(
                f"{where}: model {ref!r} not found at {mask_text(tracking_uri)} ({first_line(exc, 200)})"
            ) from exc
        return _load_local(Path(local), ref, where)


def _load_local(directory: Path, ref: str, where: str) -> Model:
    """The mlscale model in a directory: a logged pyfunc model (its `artifacts/mlscale_model`) or a plain
    saved model; errors name `ref`, never a temporary path."""
    if (directory / "artifacts" / "mlscale_model").is_dir():
        directory = directory / "artifacts" / "mlscale_model"
    if not ((directory / MODEL_FILE).is_file() and (directory / SCHEMA_FILE).is_file()):
        raise ModelError(
            f"{where}: {ref!r} is not an mlscale model (no {MODEL_FILE} and {SCHEMA_FILE} in it)"
        )
    try:
        return Model.load(directory)
    except (ValueError, OSError) as exc:
        raise ModelError(f"{where}: {ref!r}: the model cannot be read ({first_line(exc, 200)})") from exc
