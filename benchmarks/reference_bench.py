"""What the reference check costs next to training, at 1M rows: the basis of evaluate.reference_max_rows.

    .venv/bin/python benchmarks/reference_bench.py [--rows 1000000]

The table: recipes/synthetic_higgs.yaml (28 float32 features, binary) at --rows. Training: engine local's
fit with the recipe's train section (100 rounds, depth 8) and with mlscale's default train section (early
stopping). The reference: HistGradientBoostingClassifier defaults on row samples of several sizes (best of 3). Prints
seconds, the reference's share of each training time, and both test AUCs. Writes
benchmarks/results/reference_bench.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mlscale.assess.reference import fit_reference  # noqa: E402
from mlscale.data import prepare  # noqa: E402
from mlscale.modeling.training import dmatrices, evaluate, fit, xgb_params  # noqa: E402
from mlscale.recipe import load_recipe  # noqa: E402
from mlscale.recipe.schema import TrainConfig  # noqa: E402


def train_seconds(data, train: TrainConfig) -> tuple[float, float]:
    from mlscale.modeling.model import Model

    started = time.perf_counter()
    dtrain, dvalid = dmatrices(data, max_bin=train.max_bin)
    booster, _, _ = fit(
        xgb_params(train, data.schema),
        dtrain,
        dvalid,
        num_boost_round=train.num_boost_round,
        early_stopping_rounds=train.early_stopping_rounds,
        with_train_curve=False,
    )
    seconds = time.perf_counter() - started
    return seconds, evaluate(Model(booster, data.schema), data)["test_auc"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    rows = parser.parse_args().rows
    recipe = load_recipe(ROOT / "recipes/synthetic_higgs.yaml", overrides={"data.synthetic.n_rows": rows})
    data = prepare(recipe, source="synthetic_higgs")
    lines = [
        f"rows: {rows:,} (train split {len(data.x_train):,})",
        "",
        "| what | seconds | test AUC |",
        "|---|---|---|",
    ]
    trainings = {
        "train (recipe: 100 rounds, depth 8)": recipe.train,
        "train (mlscale defaults)": TrainConfig(),
    }
    train_times = {}
    for label, cfg in trainings.items():
        seconds, auc = train_seconds(data, cfg)
        train_times[label] = seconds
        lines.append(f"| {label} | {seconds:.1f} | {auc:.4f} |")
    for cap in (50_000, 100_000, 200_000, 400_000):
        ref = min((fit_reference(data, max_rows=cap) for _ in range(3)), key=lambda r: r.seconds)  # best of 3
        shares = ", ".join(f"{ref.seconds / t:.0%} of {k.split(' ', 1)[1]}" for k, t in train_times.items())
        lines.append(
            f"| reference on {ref.rows:,} rows ({shares}) | {ref.seconds:.1f} | {ref.metrics['auc']:.4f} |"
        )
        print(lines[-1], flush=True)
    text = "\n".join(lines)
    (ROOT / "benchmarks" / "results" / "reference_bench.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
