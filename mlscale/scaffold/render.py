"""`mlscale init`'s text: every section of a recipe, the chosen settings live and the optional ones
commented out as `# key: value`, each with a short comment; checked against the recipe schema."""

from __future__ import annotations

import textwrap
from typing import Any

import yaml

from mlscale.modeling.metrics import DEFAULT_TUNE_METRIC
from mlscale.recipe.task_metrics import DEFAULT_EVAL_METRIC
from mlscale.scaffold.plan import DEMO_DATASETS, Plan

_COMMENT_COL = 37  # trailing comments line up here
_WRAP = 108


# --- how to write it ----------------------------------------------------------------------------------


def _y(value: Any) -> str:
    """A value as one line of YAML (flow style), quoted only where YAML needs it."""
    text = yaml.safe_dump(
        value, default_flow_style=True, width=2**31 - 1, allow_unicode=True, sort_keys=False
    )
    text = text.strip()
    return text.removesuffix("...").strip() if text.endswith("\n...") else text


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def blank(self) -> None:
        self.lines.append("")

    def prose(self, text: str, indent: int = 0) -> None:
        pad = " " * indent
        width = max(40, _WRAP - indent - 2)
        for line in textwrap.wrap(text, width=width, break_long_words=False, break_on_hyphens=False):
            self.lines.append(f"{pad}# {line}")

    def key(
        self, indent: int, text: str, comment: str = "", *, off: bool = False, block_off: bool = False
    ) -> None:
        """`key: value` at `indent`; off: commented out in place; block_off: inside a commented section."""
        if block_off:
            body = "# " + " " * indent + text
        elif off:
            body = " " * indent + "# " + text
        else:
            body = " " * indent + text
        if comment:
            fits = len(body) < _COMMENT_COL - 1
            body = f"{body.ljust(_COMMENT_COL - 1)} # {comment}" if fits else f"{body}  # {comment}"
        self.lines.append(body)

    def section(self, about: str, header: str, comment: str = "", *, block_off: bool = False) -> None:
        """A blank line, what the section is for (as comment prose), then its top-level line."""
        self.blank()
        self.prose(about)
        self.key(0, header, comment, block_off=block_off)

    def list_key(
        self, indent: int, key: str, values: list[str], comment: str = "", *, off: bool = False
    ) -> None:
        flow = _y(values)
        if len(flow) + indent + len(key) <= 100:
            self.key(indent, f"{key}: {flow}", comment, off=off)
            return
        self.key(indent, f"{key}:", comment, off=off)
        for v in values:
            self.key(indent + 2, f"- {_y(v)}", off=off)

    def text(self) -> str:
        return "\n".join(self.lines).rstrip() + "\n"


def render(plan: Plan) -> str:
    """The recipe text, section by section."""
    w = _Writer()
    w.prose(f"Recipe `{plan.name}` for mlscale, scaffolded by `mlscale init`: a {plan.task} XGBoost job.")
    for line in plan.header:
        w.prose(line)
    w.prose(
        "Check it, then: `mlscale validate RECIPE` and `mlscale run RECIPE` (add `--engine ray` for Ray). "
        "Lines like `# key: value` are optional settings: uncomment to use them. Reference: README.md, "
        "'Recipe reference'."
    )
    w.key(0, f"name: {_y(plan.name)}", "letters, digits, _ . -; also the default MLflow experiment")

    _render_data(w, plan)

    w.section(
        "Task: the kind of model, binary | multiclass | regression. Without it, mlscale infers the task "
        "from the target and logs the inference.",
        f"task: {plan.task}",
        plan.task_comment,
    )
    for note in plan.task_notes:
        w.prose(note)
    _render_train(w, plan)
    _render_tune(w, plan)
    _render_predict(w, plan)
    _render_engine(w, plan)
    _render_mlflow(w, plan)
    return w.text()


def _render_train(w: _Writer, plan: Plan) -> None:
    w.section(
        "Train: one xgboost model (tree_method hist), early-stopped on the valid split. Any other xgboost "
        "parameter goes in train.params.",
        "train:",
    )
    w.key(2, "num_boost_round: 1000", "most boosting rounds (early stopping usually ends sooner)")
    w.key(2, "early_stopping_rounds: 20", "stop when the valid metric stalls; null = train every round")
    w.key(2, "eta: 0.1", "learning rate: lower is slower and often better")
    w.key(2, "max_depth: 6", "tree depth: deeper fits more (and overfits sooner)")
    w.key(2, "min_child_weight: 2", "least hessian per leaf: higher is more conservative")
    w.key(
        2,
        f"eval_metric: {_y(DEFAULT_EVAL_METRIC[plan.task])}",
        "logged per round; early stopping uses the last",
    )
    w.key(2, "subsample: 0.8", "share of rows per tree", off=True)
    w.key(2, "colsample_bytree: 0.8", "share of columns per tree", off=True)
    w.key(2, "reg_lambda: 1.0", "L2 regularisation (also reg_alpha, gamma, max_bin)", off=True)
    w.key(
        2,
        "params: {grow_policy: lossguide, max_leaves: 63}",
        "any other xgboost parameter, passed through",
        off=True,
    )


def _render_tune(w: _Writer, plan: Plan) -> None:
    w.section(
        "Tune (optional): a hyperparameter search, each trial a nested MLflow run; the best trial's "
        "parameters train the final model. Engine local uses Optuna, ray uses Ray Tune: same space, same "
        "semantics. Uncomment to use.",
        "tune:",
        block_off=True,
    )
    w.key(2, "num_samples: 16", "trials", block_off=True)
    w.key(
        2, f"metric: {DEFAULT_TUNE_METRIC[plan.task]}", "any valid_* metric; mode is inferred", block_off=True
    )
    w.key(2, "algorithm: tpe", "tpe (seeded Optuna TPE) | random", block_off=True)
    w.key(2, "scheduler: none", "none | asha: stop weak trials after grace_period rounds", block_off=True)
    w.key(2, "space:", block_off=True)
    w.key(4, "eta: {loguniform: [0.02, 0.3]}", block_off=True)
    w.key(4, "max_depth: {randint: [2, 10]}", "[low, high) like Ray Tune", block_off=True)
    w.key(4, "subsample: {uniform: [0.6, 1.0]}", block_off=True)
    w.key(4, "colsample_bytree: {uniform: [0.5, 1.0]}", block_off=True)
    w.key(4, "min_child_weight: {quniform: [1, 10, 1]}", block_off=True)


def _render_engine(w: _Writer, plan: Plan) -> None:
    w.section(
        "Engine: where the same recipe runs. local = plain xgboost in this process; ray = a Ray cluster "
        "(or `mlscale run RECIPE --engine ray` without editing). Profiles (--profile) can override this "
        "section per environment.",
        "engine:",
    )
    w.key(2, "name: local", "local | ray")
    w.key(2, "workers: 2", "ray: data-parallel xgboost workers, one per node by default", off=True)
    w.key(2, "cpus_per_worker: 2", "null = all the CPUs of a node", off=True)
    w.key(2, "gpus_per_worker: 1", "> 0 trains with device=cuda", off=True)
    w.key(2, "ray:", "settings only engine ray reads (other engines ignore them)", off=True)
    w.key(4, "address: auto", "null = a private local Ray; auto / host:port; ray://host:10001", off=True)
    w.key(4, "max_failures: 2", "> 0 trains with Ray Train and retries from checkpoints", off=True)


def _render_mlflow(w: _Writer, plan: Plan) -> None:
    w.section(
        "MLflow: every run logs params, metrics, timings, plots and the model. Tracking store: "
        "$MLFLOW_TRACKING_URI, else tracking_uri, else sqlite:///mlflow.db in the working directory.",
        "mlflow:",
    )
    w.key(2, f"experiment: {_y(plan.name)}")
    w.key(2, "tracking_uri: http://127.0.0.1:5000", "an MLflow server", off=True)
    w.key(2, f"registered_model: {_y(plan.name)}", "register each run's model under this name", off=True)


def _render_data(w: _Writer, plan: Plan) -> None:
    w.section(
        "Data: where the table comes from, the column to predict, and how rows are split into train / "
        "valid (early stopping, tuning) / test (final metrics, default predict input).",
        "data:",
    )
    if plan.source == "sklearn":
        w.key(2, "source: sklearn", "csv | parquet | sklearn | synthetic")
        w.key(2, f"dataset: {plan.dataset}", "breast_cancer, wine, digits, diabetes, iris")
        w.prose(f"{DEMO_DATASETS[plan.task][1].capitalize()}.", indent=2)
        w.prose(
            "Your own table instead: source csv or parquet, path (a file, a directory or a glob) and "
            "target (its column).",
            indent=2,
        )
        w.key(2, f"target: {_y(plan.target)}", plan.target_comment)
    else:
        w.key(2, f"source: {plan.source}", "csv | parquet | sklearn | synthetic")
        w.key(2, f"path: {_y(plan.path)}", "a file, a directory or a glob; relative to where you run mlscale")
        w.key(2, f"target: {_y(plan.target)}", plan.target_comment)
        for note in plan.target_notes:
            w.prose(note, indent=2)
        if plan.exclude:
            w.list_key(2, "exclude", plan.exclude, "never features: id columns, empty columns, leakage")
        else:
            w.key(2, "exclude: [id_column]", "columns that must not be features (ids, leakage)", off=True)
        w.key(
            2,
            "missing_target: drop",
            "rows without a target are left out and counted; or error",
            off=not plan.missing_target,
        )
        kept = [c for c in plan.all_features if c not in plan.exclude]
        flow = _y(kept)
        if len(flow) <= 90:
            w.key(2, f"features: {flow}", "default: every column but the target and exclude", off=True)
        else:
            w.prose(f"Features: by default all {len(kept)} columns but the target and exclude.", indent=2)
        if plan.categorical:
            w.list_key(2, "categorical", plan.categorical, "text columns")
            w.key(
                2,
                "categorical_encoding: auto",
                "native up to 32 levels, ordinal codes above (target: sparse ones, regression); "
                "or native | ordinal | frequency | target",
            )
        else:
            w.key(2, "categorical: []", "none detected (no text columns); list integer codes here", off=True)
        if plan.column_types:
            w.key(
                2,
                f"column_types: {_y(plan.column_types)}",
                "detected; or numeric | categorical | datetime | text",
            )
        for note in plan.data_notes:
            w.prose(note, indent=2)
    if plan.split_column:
        w.key(2, f"split: {{column: {_y(plan.split_column)}}}", "rows labelled train / valid / test")
    else:
        w.key(
            2,
            "split: {valid: 0.15, test: 0.15, seed: 42}",
            "random (stratified for classification); or {column: COL}",
        )
    w.key(
        2, "preprocess: my_pkg.prep:clean", "your function(DataFrame) -> DataFrame, by import path", off=True
    )


def _render_predict(w: _Writer, plan: Plan) -> None:
    w.section(
        "Predict: batch inference with the trained model, streamed in batches and written atomically. "
        "Without input it scores the test split. Delete the section to train only.",
        "predict:",
    )
    w.key(
        2, f"output: {_y(f'output/{plan.name}/predictions.parquet')}", ".parquet or .csv; plots/ go beside it"
    )
    if plan.ids:
        w.list_key(2, "id_columns", plan.ids, plan.id_comment)
    else:
        w.key(2, "id_columns: []", plan.id_comment)
    w.key(
        2, "input: data/new.parquet", "a file / directory / glob to score; default: the test split", off=True
    )
    w.key(2, "batch_size: 65536", off=True)
    w.key(2, "model: runs:/RUN_ID/model", "default: this run's model; or models:/NAME/VERSION", off=True)


def self_check(text: str, plan: Plan) -> None:
    """The text must be a valid recipe that says what the plan says (guards quoting of odd names)."""
    from mlscale.recipe.load import validate

    recipe = validate(yaml.safe_load(text), source="mlscale init")
    if recipe.data.target != plan.target or recipe.task != plan.task or recipe.name != plan.name:
        raise AssertionError("mlscale init wrote a recipe that does not match its plan")  # pragma: no cover
