"""How categorical encoding changes the model on the quality suite's tables with text columns.

    .venv/bin/python benchmarks/quality/encoding_sweep.py [--cases flights_late,loans_rate]

For each table: every text column native, every one ordinal, every one frequency, native up to T levels
with ordinal above, for several T (what `data.categorical_encoding: auto` does with T = 32), and native up
to 32 levels with `target` above (binary and regression tables). Runs mlscale's default recipe on engine
local with `data.column_encoding` set per column; prints the test metric. Writes
benchmarks/results/encoding_sweep.md (`--variants` picks labels: "native <= 32 levels,target above 32").
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.quality import suite, tables  # noqa: E402

CASES = ("flights_late", "flights_delay", "loans_rate", "movielens_rating", "mpls_stops")
THRESHOLDS = (8, 16, 32, 64, 256)
TARGET_ABOVE = (32, 1000)  # native up to 32 levels, ordinal up to T, target above T


def sweep(case: str, only: list[str] | None) -> list[tuple[str, float]]:
    import mlscale
    from mlscale.data import prepare
    from mlscale.recipe import load_recipe

    path = suite.recipe_path(case)
    schema = prepare(load_recipe(path), source=case).schema
    levels = {c: len(v) for c, v in schema.categories.items()}
    variants = {f"all {e}": {c: e for c in levels} for e in ("native", "ordinal", "frequency")}
    for t in THRESHOLDS:
        variants[f"native <= {t} levels"] = {c: "native" if n <= t else "ordinal" for c, n in levels.items()}
    if schema.task != "multiclass":
        for t in TARGET_ABOVE:
            variants[f"target above {t}"] = {
                c: "native" if n <= 32 else "ordinal" if n <= t else "target" for c, n in levels.items()
            }
    out = []
    done: list[dict[str, str]] = []
    for label, encoding in variants.items():
        if (only is not None and label not in only) or encoding in done:  # the same model as a variant run
            continue
        done.append(encoding)
        lean = {"evaluate.reference": "off", "evaluate.plots": False, "evaluate.explain.enabled": False}
        result = mlscale.run(path, overrides={"data.column_encoding": encoding, **lean})
        metric = f"test_{suite.primary(result.model.schema.task)}"
        out.append((label, round(result.metrics[metric], 4)))
        print(case, label, out[-1][1], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--variants", default=None, help="comma-separated labels; default: all")
    args = parser.parse_args()
    cases = args.cases.split(",")
    only = None if args.variants is None else args.variants.split(",")
    tables.write(sorted({suite.CASES[c] for c in cases}))
    os.chdir(ROOT)
    lines = ["| table | encoding | test metric |", "|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="mlscale-sweep-") as tmp:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        for case in cases:
            lines += [f"| {case} | {label} | {value} |" for label, value in sweep(case, only)]
    text = "\n".join(lines)
    name = "encoding_sweep.md" if only is None else "encoding_sweep_selected.md"
    (ROOT / "benchmarks" / "results" / name).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
