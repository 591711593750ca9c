"""Kept for models logged before mlscale had packages: the copy of the pyfunc entry point
MLflow stored in each of them runs `from mlscale.model import Model`. New code imports
`mlscale.modeling.model`."""

from mlscale.modeling.model import Model

__all__ = ["Model"]
