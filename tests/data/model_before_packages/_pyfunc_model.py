"""MLflow models-from-code entry point: loaded by `mlflow.pyfunc.load_model`, never imported by mlscale.

It restores categorical dtypes (the stock xgboost flavor cannot) by reusing mlscale's own Model.
"""

import pandas as pd
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel


class MlscalePyfunc(PythonModel):
    def load_context(self, context):
        from mlscale.model import Model

        self._model = Model.load(context.artifacts["mlscale_model"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        out, _ = self._model.predict_frame(frame)
        return out


set_model(MlscalePyfunc())
