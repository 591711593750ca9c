"""The model: an xgboost Booster plus the FeatureSchema that turns raw rows into its input.

Saved as xgboost's own UBJSON plus a JSON schema (never a pickle), so it loads anywhere
and categorical columns get back exactly the categories they were trained with.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlscale.data import FeatureSchema
from mlscale.data.categories import canonical
from mlscale.data.numeric import numeric
from mlscale.errors import ModelError
from mlscale.util.written import new_temp_dir, remove_dead_writers_temps

MODEL_FILE = "model.ubj"
SCHEMA_FILE = "mlscale_schema.json"


@dataclass
class Model:
    booster: Any  # xgboost.Booster
    schema: FeatureSchema
    info: dict[str, Any] = field(default_factory=dict)  # rounds; best_rounds (local); params (a trial)

    # -- persistence -------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write into a temporary sibling and rename: a kill never leaves a half-saved model."""
        d = Path(directory)
        d.parent.mkdir(parents=True, exist_ok=True)
        remove_dead_writers_temps(d)  # a killed save's
        tmp = new_temp_dir(d)  # mkdtemp: a drawn name, created exclusively
        self.booster.save_model(str(tmp / MODEL_FILE))
        payload = {"schema": self.schema.to_dict(), "info": self.info, "format": 1}
        (tmp / SCHEMA_FILE).write_text(json.dumps(payload, indent=2, default=str))
        if d.exists():
            shutil.rmtree(d)
        os.replace(tmp, d)
        return d

    @classmethod
    def load_saved(cls, directory: str | Path) -> Model | None:
        """A model saved by `save`, or None when there is none (e.g. the run was killed first)."""
        d = Path(directory)
        if not ((d / MODEL_FILE).is_file() and (d / SCHEMA_FILE).is_file()):
            return None
        return cls.load(d)

    @classmethod
    def load(cls, directory: str | Path) -> Model:
        import xgboost as xgb

        d = Path(directory)
        if not (d / MODEL_FILE).is_file() or not (d / SCHEMA_FILE).is_file():
            raise ModelError(
                f"{directory}: not an mlscale model directory (needs {MODEL_FILE} and {SCHEMA_FILE})"
            )
        payload = json.loads((d / SCHEMA_FILE).read_text())
        booster = xgb.Booster()
        booster.load_model(str(d / MODEL_FILE))
        return cls(
            booster=booster, schema=FeatureSchema.from_dict(payload["schema"]), info=payload.get("info", {})
        )

    def to_bytes(self) -> tuple[bytes, dict[str, Any]]:
        """A picklable, pickle-free form to ship the model to Ray actors."""
        return bytes(self.booster.save_raw("ubj")), {"schema": self.schema.to_dict(), "info": self.info}

    @classmethod
    def from_bytes(cls, raw: bytes, meta: dict[str, Any]) -> Model:
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(bytearray(raw))
        return cls(booster=booster, schema=FeatureSchema.from_dict(meta["schema"]), info=meta.get("info", {}))

    def with_threads(self, nthread: int) -> Model:
        """An independent copy predicting with `nthread` threads (one per concurrent scoring thread:
        xgboost's prediction is thread-safe, but its thread count is a setting of the booster)."""
        booster = self.booster.copy()
        booster.set_param({"nthread": nthread})
        return Model(booster=booster, schema=self.schema, info=self.info)

    # -- prediction --------------------------------------------------------------------
    def raw_predict(self, x: pd.DataFrame) -> np.ndarray:
        """Probabilities (classification) or values (regression) for an already typed frame."""
        return self.booster.inplace_predict(x, validate_features=False)

    def predict_frame(
        self, df: pd.DataFrame, *, id_columns: tuple[str, ...] | list[str] = (), where: str = "input"
    ) -> tuple[pd.DataFrame, dict[str, int]]:
        """Predictions for raw rows, with id columns passed through; also unseen-category counts."""
        missing_ids = [c for c in id_columns if c not in df.columns]
        if missing_ids:
            raise ModelError(f"{where}: id column(s) {', '.join(map(repr, missing_ids))} not in the input")
        x, unseen = self.schema.frame(df, where=where)
        out = (
            df[list(id_columns)].reset_index(drop=True) if id_columns else pd.DataFrame(index=range(len(df)))
        )
        out = out.copy()
        for col, values in self.output_columns(self.raw_predict(x)).items():
            out[col] = values
        return out, unseen

    def example_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rows of `frame` as a client sends them to the served model: the features only, categoricals as
        text (None when missing), datetime and text columns as text, others as numbers (integers stay
        integers)."""
        example = frame[self.schema.features].copy()
        for col in self.schema.features:
            if col in self.schema.categories or col in self.schema.derived:
                text = example[col].astype(object).map(canonical)
                example[col] = text.where(text.notna(), None)
            else:
                example[col] = numeric(example[col])
        return example.reset_index(drop=True)

    def serve_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """What the logged pyfunc model returns for raw rows: `prediction`, and for a classifier the
        probability of each class as `probability_<class>` (binary: of the second class, the positive
        one). Feature columns are found by name (any order; other columns are ignored)."""
        x, _ = self.schema.frame(df, where="input")
        raw = self.raw_predict(x)
        out = pd.DataFrame({"prediction": self.output_columns(raw)["prediction"]})
        if self.schema.task == "regression":
            return out
        matrix = np.asarray(raw, dtype=np.float64).reshape(len(raw), -1)
        classes = self.schema.classes or range(max(2, matrix.shape[1]))
        names = [f"probability_{canonical(c)}" for c in classes]
        for i, name in enumerate(names[1:] if self.schema.task == "binary" else names):
            out[name] = matrix[:, i]
        return out

    def output_columns(self, raw: np.ndarray) -> dict[str, np.ndarray]:
        task, classes = self.schema.task, self.schema.classes
        if task == "regression":
            return {"prediction": np.asarray(raw, dtype=np.float64)}
        labels = _labels(classes)
        if task == "binary":
            proba = np.asarray(raw, dtype=np.float64).reshape(-1)
            pred = labels[(proba >= 0.5).astype(int)]
            return {"prediction": _tidy(pred), "probability": proba}
        matrix = np.asarray(raw, dtype=np.float64).reshape(len(raw), -1)
        best = matrix.argmax(axis=1)
        return {"prediction": _tidy(labels[best]), "probability": matrix[np.arange(len(best)), best]}


def _labels(classes: list[Any] | None) -> np.ndarray:
    """The class labels as an array to index: of their own dtype when they share one type (no per-row
    Python objects to convert back), else objects (tidied after indexing)."""
    if classes and len({type(c) for c in classes}) == 1 and isinstance(classes[0], (int, float, str)):
        return np.asarray(classes)
    return np.asarray(classes, dtype=object)


def _tidy(values: np.ndarray) -> np.ndarray:
    """Class labels back to a concrete dtype (ints stay ints) so parquet and csv agree."""
    if values.dtype != object:
        return values
    try:
        return np.asarray(values.tolist())
    except (TypeError, ValueError):
        return values
