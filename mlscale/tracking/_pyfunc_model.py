"""MLflow models-from-code entry point: loaded by `mlflow.pyfunc.load_model`, never imported by mlscale.

It types each feature column (categoricals back to their levels, which the stock xgboost flavor cannot)
by reusing mlscale's own Model, and returns `prediction` plus one `probability_<class>` column per class
(binary: the positive class). A model logged earlier keeps its own copy of this file.
"""

import pandas as pd
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel


class MlscalePyfunc(PythonModel):
    def load_context(self, context):
        from mlscale.model import Model  # the stable path: every logged model holds a copy of this file

        self._model = Model.load(context.artifacts["mlscale_model"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        return self._model.serve_frame(frame)


set_model(MlscalePyfunc())
