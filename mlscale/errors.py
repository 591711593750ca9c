"""Errors are part of the API: one class per cause, one line per message, picklable across Ray.

A message never holds a credential: the password of a URI in it is masked when the error is made, so a
caller that logs or prints the error (not only mlscale's CLI) shows none."""

from __future__ import annotations

from mlscale.util.masking import mask_text


class MlscaleError(Exception):
    """Base class. `exit_code` is what the CLI exits with: 2 for bad input, 1 for the environment."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        message = mask_text(message)
        super().__init__(message)
        self.message = message

    def __reduce__(self):  # keep the class when the error crosses a process (Ray) boundary
        return (type(self), (self.message,))

    def __str__(self) -> str:
        return self.message


class RecipeError(MlscaleError):
    """The recipe, a profile or a --set override is invalid."""

    exit_code = 2


class DataError(MlscaleError):
    """The data a recipe points to cannot be used as asked."""

    exit_code = 2


class EngineError(MlscaleError):
    """The compute engine (Ray cluster, workers) failed or cannot be reached."""

    exit_code = 1


class TrackingError(MlscaleError):
    """The MLflow tracking server or store failed or cannot be reached."""

    exit_code = 1


class VersionError(MlscaleError):
    """Installed package versions are a known-bad combination."""

    exit_code = 1


class ModelError(MlscaleError):
    """A model URI or path that does not resolve to an mlscale model."""

    exit_code = 2


class TuningError(EngineError):
    """No tuning trial completed: every one was pruned or failed (same class and message on every engine)."""

    exit_code = 1


class ReportError(MlscaleError):
    """A run that cannot be reported: not an mlscale run, or a malformed report section."""

    exit_code = 2


class RegistryError(MlscaleError):
    """The tracking store has no model registry, which mlflow.registered_model and mlflow.promote need."""

    exit_code = 2


class OutputError(MlscaleError):
    """An output path that would replace the tracking store, or a file mlscale did not write."""

    exit_code = 2
