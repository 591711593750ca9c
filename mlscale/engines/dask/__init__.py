"""Engine `dask`: a Dask.distributed cluster (tuning, batch inference and explanations on its workers)."""
