"""Per-task metrics, shared by both engines so their numbers are comparable by construction."""

from __future__ import annotations

import numpy as np

PRIMARY = {"binary": "auc", "multiclass": "accuracy", "regression": "rmse"}
DEFAULT_TUNE_METRIC = {"binary": "valid_logloss", "multiclass": "valid_mlogloss", "regression": "valid_rmse"}


def compute(task: str, y_true: np.ndarray, raw: np.ndarray) -> dict[str, float]:
    """Metrics for one split: binary logloss/auc/accuracy/f1, multiclass mlogloss/accuracy/f1_macro,
    regression rmse/mae/r2."""
    from sklearn import metrics as skm

    if len(y_true) == 0:
        return {}
    if task == "regression":
        pred = np.asarray(raw, dtype=np.float64)
        return {
            "rmse": float(np.sqrt(skm.mean_squared_error(y_true, pred))),
            "mae": float(skm.mean_absolute_error(y_true, pred)),
            "r2": float(skm.r2_score(y_true, pred)) if len(y_true) > 1 else float("nan"),
        }
    if task == "binary":
        proba = np.clip(np.asarray(raw, dtype=np.float64).reshape(-1), 1e-15, 1 - 1e-15)
        pred = (proba >= 0.5).astype(int)
        out = {
            "logloss": float(skm.log_loss(y_true, proba, labels=[0, 1])),
            "accuracy": float(skm.accuracy_score(y_true, pred)),
            "f1": float(skm.f1_score(y_true, pred, zero_division=0)),
        }
        out["auc"] = float(skm.roc_auc_score(y_true, proba)) if len(np.unique(y_true)) == 2 else float("nan")
        return out
    proba = np.asarray(raw, dtype=np.float64)
    proba = proba.reshape(len(y_true), -1)
    proba = proba / proba.sum(axis=1, keepdims=True)  # float32 rows may miss 1.0 by an ulp
    pred = proba.argmax(axis=1)
    return {
        "mlogloss": float(skm.log_loss(y_true, proba, labels=list(range(proba.shape[1])))),
        "accuracy": float(skm.accuracy_score(y_true, pred)),
        "f1_macro": float(skm.f1_score(y_true, pred, average="macro", zero_division=0)),
    }


def prefixed(prefix: str, values: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}_{k}": v for k, v in values.items()}
