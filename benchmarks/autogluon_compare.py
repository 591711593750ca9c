"""mlscale tuned against AutoGluon, on the quality suite's tables and splits.

    .venv/bin/python benchmarks/autogluon_compare.py --autogluon-python /work/agvenv/bin/python \
        [--cases tweets_source,loans_rate] [--trials 16] [--time-limit 150]

Per table (a recipe of benchmarks/quality/), one split: mlscale's own (`prepare`: 70 / 15 / 15, seeded).
- mlscale tuned: the recipe with a tune section (`--trials` seeded TPE trials over `SPACE`, engine local),
  trained on the train rows, early-stopped on the valid rows; wall time of the whole `mlscale.run`.
- AutoGluon: `TabularPredictor(label, eval_metric).fit(train + valid rows, presets="best_quality",
  time_limit=...)`, wall time of `fit`. AutoGluon is not a dependency of mlscale: it runs in its own
  virtualenv (`--autogluon-python`; `pip install "autogluon.tabular[lightgbm,catboost,xgboost]"`), as this
  script with `--side autogluon` on parquet files of the split (features as read, the raw target).
Both are scored on the same test rows: AUC (binary), accuracy (multiclass), RMSE (regression); R² too for
regression. Writes benchmarks/results/autogluon_compare.md (`--output NAME`: NAME.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CASES = ("tweets_source", "fine_foods_score", "hotels_price", "seattle_weather", "loans_rate")
SPACE = {
    "eta": {"loguniform": [0.02, 0.3]},
    "max_depth": {"randint": [3, 11]},
    "min_child_weight": {"loguniform": [1, 20]},
    "subsample": {"uniform": [0.6, 1.0]},
    "colsample_bytree": {"uniform": [0.5, 1.0]},
    "reg_lambda": {"loguniform": [0.1, 10]},
}
AG_METRIC = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "root_mean_squared_error"}
LEAN = {"evaluate.reference": "off", "evaluate.plots": False, "evaluate.explain.enabled": False}


@dataclass(frozen=True)
class Side:
    """One tool's result on one table: the test score (and R² for regression) and wall seconds."""

    score: float
    seconds: float
    r2: float | None = None
    note: str = ""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(DEFAULT_CASES), help="recipes of benchmarks/quality/")
    parser.add_argument("--trials", type=int, default=16, help="mlscale's TPE trials")
    parser.add_argument("--time-limit", type=int, default=150, help="AutoGluon's fit time_limit (seconds)")
    parser.add_argument("--autogluon-python", default=None, help="python of a virtualenv with AutoGluon")
    parser.add_argument("--skip-mlscale", action="store_true", help="AutoGluon only")
    parser.add_argument(
        "--output", default="autogluon_compare", help="results file name under benchmarks/results/"
    )
    parser.add_argument("--side", choices=["compare", "autogluon"], default="compare", help=argparse.SUPPRESS)
    parser.add_argument("--split-dir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.side == "compare" and args.autogluon_python is None and not args.skip_mlscale:
        print("note: no --autogluon-python: mlscale only", file=sys.stderr)
    return args


def write_split(case: str, directory: Path, data_path: Path | None = None) -> dict[str, Any]:
    """The table's train + valid rows and its test rows as parquet in `directory` (features and the raw
    target, rows as mlscale's split gave them); returns what the AutoGluon side needs to know.
    `data_path`: the table's file, when not where the recipe says."""
    from benchmarks.quality import suite
    from mlscale.data import load_table, prepare
    from mlscale.recipe import load_recipe

    recipe = load_recipe(suite.recipe_path(case))
    if data_path is not None:
        recipe = recipe.model_copy(update={"data": recipe.data.model_copy(update={"path": str(data_path)})})
    data = prepare(recipe, source=case)
    raw = load_table(recipe.data, source=case)
    columns = [*data.schema.features, data.schema.target]
    fit_rows = [*data.split_rows["train"], *data.split_rows["valid"]]
    raw.iloc[fit_rows][columns].reset_index(drop=True).to_parquet(directory / "train.parquet")
    raw.iloc[data.split_rows["test"]][columns].reset_index(drop=True).to_parquet(directory / "test.parquet")
    spec = {"label": data.schema.target, "task": data.schema.task, "rows": data.n_rows}
    (directory / "spec.json").write_text(json.dumps(spec))
    return spec


def mlscale_tuned(case: str, trials: int) -> Side:
    import mlscale
    from benchmarks.quality import suite

    tune = {"num_samples": trials, "algorithm": "tpe", "seed": 0, "space": SPACE}
    started = time.perf_counter()
    result = mlscale.run(suite.recipe_path(case), overrides={"tune": tune, "engine.name": "local", **LEAN})
    seconds = time.perf_counter() - started
    task = result.model.schema.task
    metric = suite.primary(task)
    r2 = result.metrics.get("test_r2") if task == "regression" else None
    return Side(score=float(result.metrics[f"test_{metric}"]), seconds=seconds, r2=r2)


def autogluon_side(split_dir: Path, time_limit: int) -> Side:
    """Runs in AutoGluon's virtualenv: fit on train.parquet, score on test.parquet."""
    import numpy as np
    import pandas as pd
    from autogluon.tabular import TabularPredictor
    from sklearn import metrics

    spec = json.loads((split_dir / "spec.json").read_text())
    label, task = spec["label"], spec["task"]
    train, test = pd.read_parquet(split_dir / "train.parquet"), pd.read_parquet(split_dir / "test.parquet")
    predictor = TabularPredictor(
        label=label, problem_type=task, eval_metric=AG_METRIC[task], path=str(split_dir / "ag"), verbosity=1
    )
    started = time.perf_counter()
    predictor.fit(train, presets="best_quality", time_limit=time_limit)
    seconds = time.perf_counter() - started
    x_test, y_test = test.drop(columns=[label]), test[label]
    r2 = None
    if task == "binary":
        positive = predictor.positive_class
        proba = predictor.predict_proba(x_test)[positive]
        score = metrics.roc_auc_score((y_test == positive).astype(int), proba)
    elif task == "multiclass":
        score = metrics.accuracy_score(y_test.astype(str), predictor.predict(x_test).astype(str))
    else:
        predicted = predictor.predict(x_test)
        score = float(np.sqrt(metrics.mean_squared_error(y_test, predicted)))
        r2 = float(metrics.r2_score(y_test, predicted))
    best = predictor.model_best
    return Side(score=float(score), seconds=seconds, r2=r2, note=f"best model {best}")


def run_autogluon(python: str, split_dir: Path, time_limit: int) -> Side:
    """This script's AutoGluon side in AutoGluon's virtualenv; its last stdout line is the result."""
    command = [python, __file__, "--side", "autogluon", "--split-dir", str(split_dir)]
    command += ["--time-limit", str(time_limit)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return Side(score=float("nan"), seconds=float("nan"), note=f"AutoGluon failed: {tail[0]}")
    return Side(**json.loads(done.stdout.strip().splitlines()[-1]))


def compare(args: argparse.Namespace) -> list[dict[str, Any]]:
    from benchmarks.quality import suite, tables

    cases = args.cases.split(",")
    tables.write(sorted({suite.CASES[c] for c in cases}))
    os.chdir(ROOT)  # the recipes name their tables relative to the repository
    rows = []
    with tempfile.TemporaryDirectory(prefix="mlscale-agcompare-") as tmp:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        for case in cases:
            split_dir = Path(tmp) / case
            split_dir.mkdir()
            spec = write_split(case, split_dir)
            row: dict[str, Any] = {"table": case, "task": spec["task"], "metric": suite.primary(spec["task"])}
            if not args.skip_mlscale:
                row |= {f"mlscale_{k}": v for k, v in asdict(mlscale_tuned(case, args.trials)).items()}
            if args.autogluon_python:
                side = run_autogluon(args.autogluon_python, split_dir, args.time_limit)
                row |= {f"autogluon_{k}": v for k, v in asdict(side).items()}
            print(row, flush=True)
            rows.append(row)
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "" if value is None else str(value)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.side == "autogluon":
        print(json.dumps(asdict(autogluon_side(Path(args.split_dir), args.time_limit))))
        return
    sys.path.insert(0, str(ROOT))
    rows = compare(args)
    text = markdown(rows)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / f"{args.output}.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
