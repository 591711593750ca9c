"""The tracking layer, the only one that imports mlflow: `client` (an explicit MLflow client per store,
the sqlite first-open lock, one-line MLflow errors), `runs` (the run being written), `read` (a run read back), `models` (a logged model back), `registry`, `promotion`, and
`_pyfunc_model` (the models-from-code file MLflow copies into every model)."""
