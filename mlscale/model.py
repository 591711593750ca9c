"""The stable import path of the model for logged models: MLflow stores a copy of the pyfunc entry point
(`mlscale/tracking/_pyfunc_model.py`) in every model it logs, and that copy runs `from mlscale.model
import Model` when the model is loaded, however the package is laid out by then. New code imports
`mlscale.modeling.model`."""

from mlscale.modeling.model import Model

__all__ = ["Model"]
