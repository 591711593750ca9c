"""`mlscale.run` leaves no process-wide state behind: a notebook that calls it twice must not notice.

Environment variables, warning filters, logger levels, signal handlers and MLflow's tracking URI are the
same after two runs as before them, on both engines.
"""

from __future__ import annotations

import logging
import os
import signal
import warnings
from pathlib import Path

import pytest
from conftest import LEAN

import mlscale

ROOT = Path(__file__).resolve().parents[2]
LOGGERS = ("mlscale", "ray", "ray.data", "ray.tune", "ray.train", "mlflow", "optuna", "alembic", "urllib3")


def snapshot() -> dict[str, object]:
    import mlflow

    return {
        "environ": dict(os.environ),
        "warning filters": [tuple(getattr(p, "pattern", p) for p in f) for f in warnings.filters],
        "logger levels": {name: logging.getLogger(name).level for name in ("", *LOGGERS)},
        "logger handlers": {name: list(logging.getLogger(name).handlers) for name in ("", *LOGGERS)},
        "signal handlers": {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)},
        "mlflow tracking uri": mlflow.get_tracking_uri(),
    }


@pytest.mark.parametrize("engine", ["local", "ray"])
def test_two_runs_leave_the_process_as_they_found_it(engine, workdir, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLSCALE_HOME", str(workdir / "home"))
    # what libraries do once at import (scikit-learn sets KMP_* variables) is not mlscale's doing
    import optuna  # noqa: F401
    import sklearn.ensemble  # noqa: F401
    import xgboost  # noqa: F401

    if engine == "ray":
        import ray.train
        import ray.tune  # noqa: F401

    mlflow.set_tracking_uri(f"sqlite:///{workdir}/notebook.db")  # the notebook's own choice (mlscale uses it)
    before = snapshot()
    try:
        for _ in range(2):
            mlscale.run(
                ROOT / "recipes/breast_cancer.yaml",
                engine=engine,
                overrides={"tune.num_samples": 2, "train.num_boost_round": 5, "predict": None, **LEAN},
            )
        after = snapshot()
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    for key, value in before.items():
        if key == "environ":
            changed = {k for k in set(value) | set(after[key]) if value.get(k) != after[key].get(k)}  # type: ignore[attr-defined]
            assert not changed, f"environment variables changed: {sorted(changed)}"
        else:
            assert after[key] == value, key
