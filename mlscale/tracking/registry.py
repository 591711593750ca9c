"""The MLflow model registry: the pre-flight check, aliases and version tags (part of the tracking layer).

Aliases, not stages: MLflow deprecated stages; `models:/NAME@ALIAS` resolves an alias wherever a model URI
is taken (`mlscale predict --model`, `mlflow models predict -m`, `mlflow.pyfunc.load_model`).
"""

from __future__ import annotations

from collections.abc import Mapping

from mlscale.errors import RegistryError, TrackingError
from mlscale.tracking.client import open_client, short_error, store_init_lock
from mlscale.util.masking import mask_text


def check_registry(uri: str, *, where: str) -> None:
    """Fail before training when the tracking store has no model registry (registered_model needs one):
    RegistryError (exit 2) for a store without one, TrackingError (exit 1) when asking it failed."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking.registry import UnsupportedModelRegistryStoreURIException

    store = mask_text(uri)
    try:
        with store_init_lock(uri):
            open_client(uri).search_registered_models(max_results=1)
    except UnsupportedModelRegistryStoreURIException:
        raise RegistryError(f"{where}: the tracking store {store} has no model registry") from None
    except MlflowException as exc:
        if exc.get_http_status_code() == 404:  # a server that does not serve the registry API
            raise RegistryError(f"{where}: the tracking server {store} serves no model registry") from None
        raise TrackingError(
            f"mlflow: cannot read the model registry at {store} ({short_error(exc)})"
        ) from None
    except Exception as exc:
        raise TrackingError(
            f"mlflow: cannot read the model registry at {store} ({short_error(exc)})"
        ) from None


def aliased_version(uri: str, name: str, alias: str) -> str | None:
    """The version of registered model `name` that holds `alias`, or None (no such alias or model)."""
    from mlflow.exceptions import MlflowException

    try:
        model = open_client(uri).get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise TrackingError(f"mlflow: cannot read registered model {name!r} ({short_error(exc)})") from exc
    version = model.aliases.get(alias)
    return None if version is None else str(version)


def set_alias(uri: str, name: str, alias: str, version: str) -> None:
    """Point `name@alias` at `version` (MLflow moves it from the version that held it)."""
    try:
        open_client(uri).set_registered_model_alias(name, alias, version)
    except Exception as exc:
        raise TrackingError(f"mlflow: cannot set alias {name}@{alias} ({short_error(exc)})") from exc


def tag_version(uri: str, name: str, version: str, tags: Mapping[str, str]) -> None:
    client = open_client(uri)
    try:
        for key, value in tags.items():
            client.set_model_version_tag(name, version, key, mask_text(value)[:5000])
    except Exception as exc:
        raise TrackingError(f"mlflow: cannot tag {name} version {version} ({short_error(exc)})") from exc
