"""The recipe: one frozen pydantic model per concern, validated once at the entry point.

Every model forbids unknown keys so a typo fails in seconds instead of being silently ignored.
Cross-field rules live here too (as model validators) so `mlscale validate` catches them.
"""

from __future__ import annotations

import math
import re
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from mlscale.recipe.endpoint import Guard
from mlscale.recipe.engine_config import EngineConfig
from mlscale.recipe.section import Section as _Section
from mlscale.recipe.task_metrics import TASK_METRICS, metrics_problem

Task = Literal["binary", "multiclass", "regression"]
SKLEARN_DATASETS = ("breast_cancer", "wine", "digits", "diabetes", "iris")

# Metrics that xgboost computes per boosting round; only these can drive early stopping and ASHA.
XGB_ROUND_METRICS = {"logloss", "auc", "aucpr", "error", "mlogloss", "merror", "rmse", "mae"}
_MAXIMIZE = ("auc", "aucpr", "accuracy", "f1", "r2")


def metric_mode(metric: str) -> Literal["min", "max"]:
    """Whether larger is better for a metric name such as 'valid_auc' or 'rmse'."""
    base = metric.split("_", 1)[1] if metric.startswith(("valid_", "test_")) else metric
    return "max" if base in _MAXIMIZE else "min"


# xgboost parameters that take an int, besides the named train fields: xgboost refuses 2.5 or text
# only once training starts (and mlscale would otherwise cut 2.5 to 2 for some of them).
XGB_INT_PARAMS = frozenset(
    {
        "max_leaves",
        "num_parallel_tree",
        "max_cat_to_onehot",
        "max_cat_threshold",
        "num_class",
        "verbosity",
        "nthread",
        "top_k",
    }
)


class SyntheticConfig(_Section):
    kind: Literal["classification", "regression"] = "classification"
    n_rows: int = Field(10_000, ge=10)
    n_features: int = Field(20, ge=1)
    n_informative: int | None = Field(None, ge=1)
    n_classes: int = Field(2, ge=2)
    seed: int = 0

    @property
    def informative(self) -> int:
        """n_informative, or two thirds of the features when not given."""
        return self.n_informative or max(1, min(self.n_features, (self.n_features * 2) // 3))

    @model_validator(mode="after")
    def _sklearn_limits(self) -> SyntheticConfig:
        """What make_classification / make_regression would refuse once the run has started."""
        if self.n_informative is not None and self.n_informative > self.n_features:
            raise ValueError(
                f"n_informative must be <= n_features, got {self.n_informative} > {self.n_features}"
            )
        need = (self.n_classes * 2 - 1).bit_length()  # the least k with n_classes * 2 <= 2 ** k
        if self.kind == "classification" and self.informative < need:
            raise ValueError(
                f"{self.n_classes} classes need n_informative >= {need} "
                f"(n_classes * 2 <= 2 ** n_informative), got {self.informative}"
            )
        return self


class SplitConfig(_Section):
    valid: float = Field(0.15, gt=0, lt=1)
    test: float = Field(0.15, ge=0, lt=1)
    seed: int = 42
    column: str | None = None  # an existing column holding train / valid / test

    @model_validator(mode="after")
    def _fractions(self) -> SplitConfig:
        if self.valid + self.test >= 1:
            raise ValueError(f"valid + test must be < 1, got {self.valid} + {self.test}")
        return self


class DataConfig(_Section):
    endpoints: ClassVar[Mapping[str, Guard]] = {"preprocess": Guard("hook")}  # user code it imports and calls
    source: Literal["csv", "parquet", "sklearn", "synthetic"]
    path: str | None = None
    dataset: Literal["breast_cancer", "wine", "digits", "diabetes", "iris"] | None = None
    synthetic: SyntheticConfig | None = None
    target: str = "target"
    features: list[str] | None = None
    categorical: list[str] | None = None  # None: detected from string / category dtypes
    # How categorical columns reach xgboost: auto = native up to 32 levels, ordinal codes above (target
    # above 1000 levels with < 20 train rows per level, for a regression target: mlscale/data/categories.py)
    categorical_encoding: Literal["auto", "native", "ordinal", "frequency", "target"] = "auto"
    column_encoding: dict[str, Literal["native", "ordinal", "frequency", "target"]] = Field(
        default_factory=dict
    )
    # per column, instead of the detected type (mlscale.data.column_types)
    column_types: dict[str, Literal["numeric", "categorical", "datetime", "text"]] = Field(
        default_factory=dict
    )
    exclude: list[str] = Field(default_factory=list)  # columns never used as features (ids, leakage)
    missing_target: Literal["drop", "error"] = "drop"  # rows whose target is missing
    split: SplitConfig = SplitConfig()
    preprocess: str | None = None  # "package.module:function", opt-in user code

    @model_validator(mode="after")
    def _source_fields(self) -> DataConfig:
        if self.source in ("csv", "parquet") and not self.path:
            raise ValueError(f"source {self.source} needs data.path")
        if self.source == "sklearn" and not self.dataset:
            raise ValueError(f"source sklearn needs data.dataset (one of {', '.join(SKLEARN_DATASETS)})")
        if self.preprocess is not None and ":" not in self.preprocess:
            raise ValueError(f"preprocess must look like 'module:function', got {self.preprocess!r}")
        if self.target in self.exclude:
            raise ValueError(
                f"exclude: the target {self.target!r} is never a feature; remove it from exclude"
            )
        clash = sorted(
            set(self.exclude) & set(self.features or []) | set(self.exclude) & set(self.categorical or [])
        )
        if clash:
            raise ValueError(f"exclude: column {clash[0]!r} is also listed as a feature or categorical")
        return self


class TrainConfig(_Section):
    """xgboost parameters; anything not named here goes in `params` and is passed through.

    The defaults were chosen on the real tables of benchmarks/quality_bench.py (docs/quality.md): a slower
    learning rate with early stopping matched or beat scikit-learn's HistGradientBoosting on every table,
    xgboost's own (eta 0.3, 100 rounds) did not."""

    num_boost_round: int = Field(1000, ge=1)  # an upper bound: early stopping usually ends sooner
    early_stopping_rounds: int | None = Field(20, ge=1)
    eta: float = Field(0.1, gt=0, le=1)
    max_depth: int = Field(6, ge=0)
    min_child_weight: float = Field(2.0, ge=0)
    subsample: float = Field(1.0, gt=0, le=1)
    colsample_bytree: float = Field(1.0, gt=0, le=1)
    reg_lambda: float = Field(1.0, ge=0)
    reg_alpha: float = Field(0.0, ge=0)
    gamma: float = Field(0.0, ge=0)
    max_bin: int = Field(256, ge=2)
    eval_metric: list[str] | None = None  # default per task
    seed: int = 0
    # train rows read in batches into xgboost's ExtMemQuantileDMatrix (cache on local disk) instead of
    # loaded in memory; auto: when the plan's memory estimate says so (mlscale/data/memory_plan.py)
    external_memory: Literal["auto", "on", "off"] = "auto"
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("params")
    @classmethod
    def _no_shadowing(cls, value: dict[str, Any]) -> dict[str, Any]:
        named = set(cls.model_fields) - {"params"}
        clash = sorted(set(value) & named)
        if clash:
            raise ValueError(f"{clash[0]} is a train field: set train.{clash[0]} instead of train.params")
        for key in sorted(XGB_INT_PARAMS & set(value)):
            if not _is_int(value[key]):
                raise ValueError(f"{key} must be an int, got {value[key]!r}")
        return value


def _is_int(value: Any) -> bool:
    """An int, or a float without a fraction (3.0); never a bool or text."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


SpaceKind = Literal["randint", "uniform", "loguniform", "choice", "quniform"]
SPACE_KINDS: tuple[str, ...] = typing.get_args(SpaceKind)


class SearchDim(_Section):
    """One dimension of a search space. randint is [low, high) like Ray Tune."""

    kind: SpaceKind
    low: int | float | None = None  # an int for randint (validate prints randint: [2, 10], not 2.0)
    high: int | float | None = None
    q: float | None = None
    values: list[Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _randint_bounds_as_ints(cls, raw: Any) -> Any:
        """randint's bounds 2.0 and 10.0 are 2 and 10 (runs after `_from_short_form`, declared below)."""
        if not (isinstance(raw, dict) and raw.get("kind") == "randint"):
            return raw
        whole = {k: int(v) for k in ("low", "high") if _is_int(v := raw.get(k)) and isinstance(v, float)}
        return {**raw, **whole}

    @model_validator(mode="before")
    @classmethod
    def _from_short_form(cls, raw: Any) -> Any:
        # Short form: {loguniform: [0.01, 0.3]}, {choice: [a, b]}, {quniform: [1, 10, 1]}
        if isinstance(raw, dict) and len(raw) == 1 and "kind" not in raw:
            ((kind, args),) = raw.items()
            if kind not in SPACE_KINDS:
                raise ValueError(f"unknown search kind {kind!r}, expected one of {', '.join(SPACE_KINDS)}")  # type: ignore[attr-defined]
            if not isinstance(args, list):
                raise ValueError(f"{kind} needs a list, got {args!r}")
            if kind == "choice":
                return {"kind": kind, "values": args}
            expected = 3 if kind == "quniform" else 2
            if len(args) != expected:
                shape = "[low, high, q]" if kind == "quniform" else "[low, high]"
                raise ValueError(f"{kind} needs {shape}, got {args!r}")
            return {
                "kind": kind,
                "low": args[0],
                "high": args[1],
                **({"q": args[2]} if expected == 3 else {}),
            }
        if not isinstance(raw, dict):
            raise ValueError(f"must be a mapping like {{uniform: [low, high]}}, got {raw!r}")
        return raw

    @model_validator(mode="after")
    def _bounds(self) -> SearchDim:
        if self.kind == "choice":
            if not self.values:
                raise ValueError("choice needs a non-empty list of values")
            return self
        low, high = self.low, self.high
        if low is None or high is None or any(map(math.isnan, (low, high))):
            raise ValueError(f"{self.kind} needs numeric low and high")
        if self.kind == "loguniform" and not (0 < low < high):
            raise ValueError(f"loguniform needs 0 < low < high, got low={_num(low)}, high={_num(high)}")
        if not low < high:
            raise ValueError(f"{self.kind} needs low < high, got low={_num(low)}, high={_num(high)}")
        if self.kind == "randint" and (low != int(low) or high != int(high)):
            raise ValueError(f"randint needs integer bounds, got low={_num(low)}, high={_num(high)}")
        if self.kind == "quniform" and (self.q is None or self.q <= 0):
            raise ValueError(f"quniform needs q > 0, got q={self.q}")
        return self


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


class TuneConfig(_Section):
    space: dict[str, SearchDim]
    num_samples: int = Field(8, ge=1)
    metric: str | None = None  # default per task: valid_logloss / valid_mlogloss / valid_rmse
    mode: Literal["min", "max"] | None = None  # default from the metric's name
    algorithm: Literal["random", "tpe"] = "tpe"
    scheduler: Literal["none", "asha"] = "none"
    grace_period: int = Field(10, ge=1)  # boosting rounds before ASHA may stop a trial
    max_concurrent: int | None = Field(None, ge=1)  # None: derived from free CPUs
    seed: int = 0

    @field_validator("space")
    @classmethod
    def _non_empty(cls, value: dict[str, SearchDim]) -> dict[str, SearchDim]:
        if not value:
            raise ValueError("needs at least one parameter")
        return value

    @model_validator(mode="after")
    def _metric(self) -> TuneConfig:
        if self.metric is not None and not self.metric.startswith("valid_"):
            raise ValueError(f"metric must be a validation metric like valid_auc, got {self.metric!r}")
        if self.scheduler == "asha" and self.metric is not None:
            base = self.metric.removeprefix("valid_")
            if base not in XGB_ROUND_METRICS:
                raise ValueError(
                    f"asha needs a per-round xgboost metric ({', '.join(sorted(XGB_ROUND_METRICS))}), "
                    f"got {self.metric!r}"
                )
        return self


class PredictConfig(_Section):
    endpoints: ClassVar[Mapping[str, Guard]] = {"output": Guard("output")}
    input: str | None = None  # file, directory or glob; None: the test split
    output: str = "output/predictions.parquet"
    format: Literal["parquet", "csv"] | None = None  # default from the output suffix, else parquet
    batch_size: int = Field(65_536, ge=1)
    id_columns: list[str] = Field(default_factory=list)
    model: str | None = None  # MLflow model URI (runs:/, models:/) or run id; None: this run's model
    # A directory of part files (one per input file, written by the workers) instead of one file; an
    # output ending in "/" means the same
    partitioned: bool = False

    @property
    def dataset(self) -> bool:
        """Whether the output is a partitioned directory."""
        return self.partitioned or self.output.endswith("/")

    @property
    def resolved_format(self) -> Literal["parquet", "csv"]:
        if self.format:
            return self.format
        return "csv" if self.output.lower().endswith(".csv") and not self.dataset else "parquet"


class ExplainConfig(_Section):
    """SHAP values from xgboost itself (pred_contribs) on a sample of the test split."""

    enabled: bool = True
    # test rows explained; 500 cost about 5 % of training (default train section) at 1M rows, measured by
    # benchmarks/explain_bench.py
    sample_rows: int = Field(500, ge=10)
    top_features: int = Field(10, ge=1)  # logged as shap_mean_abs_<feature> metrics


class EvaluateConfig(_Section):
    """Checks of the model a run hands over."""

    # auto: fit scikit-learn's HistGradientBoosting on the same train split and warn when the model is worse
    reference: Literal["auto", "off"] = "auto"
    reference_max_rows: int = Field(
        100_000, ge=100
    )  # train rows it sees at most (cost: benchmarks/reference_bench.py)
    explain: ExplainConfig = ExplainConfig()
    # PNG plots (evaluation, explanations, learning curve, tuning) in the run and its report; false skips
    # them (their cost shows in a run's time_evaluate_s and time_log_model_s)
    plots: bool = True
    # binary: the threshold reaching this test precision (or recall) besides the one maximising F1
    target_precision: float | None = Field(None, gt=0, le=1)
    target_recall: float | None = Field(None, gt=0, le=1)
    slices: list[str] = Field(default_factory=list)  # data columns to break the test metrics down by
    slice_min_rows: int = Field(20, ge=1)  # smaller slices are left out of the worst-slices list

    @model_validator(mode="after")
    def _one_target(self) -> EvaluateConfig:
        if self.target_precision is not None and self.target_recall is not None:
            raise ValueError("name one of target_precision or target_recall, not both")
        return self


_ALIAS = re.compile(r"[A-Za-z0-9_-]{1,255}")  # what MLflow accepts for a registered model alias


class PromoteConfig(_Section):
    """Gated promotion: this run's model version takes `alias` only if it beats the version holding it
    (re-scored on this run's test split) by more than `min_delta`; otherwise it gets `challenger_alias`."""

    alias: str = "champion"
    metric: str | None = None  # a test_* metric of the task; None: test_auc / test_accuracy / test_rmse
    min_delta: float = Field(0.0, ge=0, allow_inf_nan=False)
    challenger_alias: str = "challenger"

    @model_validator(mode="after")
    def _names(self) -> PromoteConfig:
        for key in ("alias", "challenger_alias"):
            name = getattr(self, key)
            if not _ALIAS.fullmatch(name):
                raise ValueError(f"{key} must be 1-255 letters, digits, '_' or '-', got {name!r}")
            if name.lower() == "latest" or (name[0] in "vV" and name[1:].isdigit()):
                raise ValueError(f"{key} {name!r} is reserved by MLflow (latest, v<number>)")
        if self.alias == self.challenger_alias:
            raise ValueError(f"alias and challenger_alias must differ, got {self.alias!r} for both")
        if self.metric is not None:
            base = self.metric.removeprefix("test_")
            known = sorted({m for names in TASK_METRICS.values() for m in names})
            if not self.metric.startswith("test_") or base not in known:
                raise ValueError(
                    f"metric must be a test metric ({', '.join('test_' + m for m in known)}), "
                    f"got {self.metric!r}"
                )
        return self


class MlflowConfig(_Section):
    endpoints: ClassVar[Mapping[str, Guard]] = {"tracking_uri": Guard("uri", env="MLFLOW_TRACKING_URI")}
    tracking_uri: str | None = None
    experiment: str | None = None  # default: the recipe's name
    run_name: str | None = None
    registered_model: str | None = None
    promote: PromoteConfig | None = None  # needs registered_model

    @model_validator(mode="after")
    def _promote_needs_registry(self) -> MlflowConfig:
        if self.promote is not None and not self.registered_model:
            raise ValueError("promote needs mlflow.registered_model (the name whose aliases it moves)")
        return self


class Recipe(_Section):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str | None = None
    data: DataConfig
    task: Task | None = None  # None: inferred from the target, and the inference is logged
    train: TrainConfig = TrainConfig()
    tune: TuneConfig | None = None
    predict: PredictConfig | None = None
    engine: EngineConfig = EngineConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    mlflow: MlflowConfig = MlflowConfig()
    # Guarded keys (endpoints, hook, output path) named by the recipe file alone, that need confirmation
    # (set by load_recipe; see mlscale.recipe.trust)
    _unconfirmed: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _cross_section(self) -> Recipe:
        if self.task in ("binary", "regression") and "num_class" in self.train.params:
            raise ValueError(f"train.params.num_class is a multiclass setting, but task is {self.task}")
        objective = self.train.params.get("objective")
        if isinstance(objective, str) and self.task is not None:
            family = {"binary": "binary:", "multiclass": "multi:", "regression": "reg:"}[self.task]
            if not objective.startswith(family):
                raise ValueError(f"train.params.objective {objective!r} does not fit task {self.task}")
        if self.task is not None:  # otherwise inferred from the target: the run checks it then
            tune_metric = self.tune.metric if self.tune else None
            problem = metrics_problem(
                self.task, self.train.eval_metric, objective=objective, tune_metric=tune_metric
            )
            if problem:
                raise ValueError(problem)
        targets = self.evaluate.target_precision, self.evaluate.target_recall
        if self.task in ("multiclass", "regression") and any(t is not None for t in targets):
            raise ValueError(
                f"evaluate.target_precision/target_recall are binary settings, but task is {self.task}"
            )
        tune = self.tune
        if tune is not None and tune.scheduler == "asha" and tune.grace_period >= self.train.num_boost_round:
            raise ValueError(
                f"tune.grace_period must be < train.num_boost_round for asha (it stops trials between the "
                f"two), got {tune.grace_period} >= {self.train.num_boost_round}"
            )
        self.engine.settings.check_recipe(self)
        self._check_promote()
        return self

    def _check_promote(self) -> None:
        promote = self.mlflow.promote
        if promote is None:
            return
        if self.data.split.test == 0 and self.data.split.column is None:
            raise ValueError(
                "mlflow.promote compares models on the test split: data.split.test must be > 0, got 0"
            )
        if promote.metric is not None and self.task is not None:
            base = promote.metric.removeprefix("test_")
            if base not in TASK_METRICS[self.task]:
                names = ", ".join("test_" + m for m in TASK_METRICS[self.task])
                raise ValueError(
                    f"mlflow.promote.metric {promote.metric!r} is not logged for task {self.task} "
                    f"(one of {names})"
                )
