"""What SHAP explanations cost next to training, at 1M rows: the basis of evaluate.explain.sample_rows.

    .venv/bin/python benchmarks/explain_bench.py [--rows 1000000] [--defaults]

The table: recipes/synthetic_higgs.yaml (28 float32 features, binary) at --rows. Training: engine local's
fit with the recipe's train section (100 rounds, depth 8), and with --defaults also with mlscale's default
train section (early stopping). Explaining: xgboost's pred_contribs on test-split samples of several sizes
with all of this machine's threads (engine local's `explain`), best of 2; "with plots" adds the
explanation's ranking and its PNGs (what a run logs). Prints seconds and each one's share of training.
Writes benchmarks/results/explain_bench_<rows>.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mlscale.assess.explanations import explanation, sample_positions  # noqa: E402
from mlscale.data import prepare  # noqa: E402
from mlscale.modeling.model import Model  # noqa: E402
from mlscale.modeling.training import dmatrices, fit, xgb_params  # noqa: E402
from mlscale.recipe import load_recipe  # noqa: E402
from mlscale.recipe.schema import TrainConfig  # noqa: E402
from mlscale.report.plots_explain import explanation_plots  # noqa: E402
from mlscale.scoring.predict import explain_in_process  # noqa: E402

SAMPLES = (500, 1_000, 2_000, 5_000)


def trained(data, train: TrainConfig) -> tuple[Model, float]:
    started = time.perf_counter()
    dtrain, dvalid = dmatrices(data, max_bin=train.max_bin)
    booster, _, _ = fit(
        xgb_params(train, data.schema), dtrain, dvalid, num_boost_round=train.num_boost_round,
        early_stopping_rounds=train.early_stopping_rounds, with_train_curve=False,
    )  # fmt: skip
    return Model(booster, data.schema), time.perf_counter() - started


def explain_seconds(model: Model, data, size: int, *, plots: bool) -> float:
    x = data.x_test.iloc[sample_positions(len(data.x_test), size, 0)].reset_index(drop=True)
    best = float("inf")
    for _ in range(2):
        started = time.perf_counter()
        result = explain_in_process(model, x, nthread=os.cpu_count())
        if plots:
            with tempfile.TemporaryDirectory() as tmp:
                explanation_plots(explanation(model.schema, result.values, x), Path(tmp))
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--defaults", action="store_true", help="also train with mlscale's default train section"
    )
    args = parser.parse_args()
    recipe = load_recipe(
        ROOT / "recipes/synthetic_higgs.yaml", overrides={"data.synthetic.n_rows": args.rows}
    )
    data = prepare(recipe, source="synthetic_higgs")
    lines = [
        f"rows: {args.rows:,} (train split {len(data.x_train):,}, test split {len(data.x_test):,}); "
        f"{os.cpu_count()} CPU",
        "",
        "| model | training s | trees | explained rows | SHAP s | share of training | SHAP + plots s | share |",
        "|---|---|---|---|---|---|---|---|",
    ]
    trainings = {"recipe: 100 rounds, depth 8": recipe.train}
    if args.defaults:
        trainings["mlscale defaults"] = TrainConfig()
    for label, cfg in trainings.items():
        model, seconds = trained(data, cfg)
        trees = model.booster.num_boosted_rounds()
        for size in SAMPLES:
            shap = explain_seconds(model, data, size, plots=False)
            full = explain_seconds(model, data, size, plots=True)
            lines.append(
                f"| {label} | {seconds:.1f} | {trees} | {size:,} | {shap:.2f} | {shap / seconds:.1%} | "
                f"{full:.2f} | {full / seconds:.1%} |"
            )
            print(lines[-1], flush=True)
    text = "\n".join(lines)
    (ROOT / "benchmarks" / "results" / f"explain_bench_{args.rows}.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
