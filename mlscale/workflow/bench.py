"""`mlscale bench` and `mlscale compare`: where the time goes, engine against engine, with the score reached.

bench runs the recipe for every (engine, rows, workers, repeat), alternating engines (A B A B) so drift
hits both, each as a child run of one bench parent run; compare reads any runs back from a tracking server.
Both print the same table: phase x group with median / min / max and the ratio to the first group.
"""

from __future__ import annotations

import itertools
import logging
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mlscale.errors import RecipeError
from mlscale.recipe import recipe_hash
from mlscale.recipe.resolve import resolve_recipe
from mlscale.tracking import runs as tracking
from mlscale.util.masking import mask_text

log = logging.getLogger("mlscale")

PHASES = ("load", "startup", "scale", "train", "tune", "predict", "total")


@dataclass
class BenchResult:
    run_id: str
    table: pd.DataFrame  # one row per (group, phase): median, min, max, ratio
    runs: pd.DataFrame  # one row per child run
    files: list[Path]


def bench(
    recipe_path: str | Path,
    *,
    engines: Sequence[str] = ("local", "ray"),
    rows: Sequence[int] = (),
    workers: Sequence[int] = (),
    repeat: int = 1,
    phases: Sequence[str] = ("train", "tune", "predict"),
    profiles: Iterable[str | Path] = (),
    overrides: Sequence[str] = (),
    out_dir: str | Path = "output/bench",
    trust_recipe: bool = False,
) -> BenchResult:
    """Run every combination, log it under one parent run, and write table.csv/.md and chart.png."""
    from mlscale.workflow.run import run

    resolved = resolve_recipe(recipe_path, profiles=profiles, overrides=list(overrides))
    base = resolved.confirm(trust=trust_recipe).recipe
    if rows and base.data.source != "synthetic":
        raise RecipeError(f"{recipe_path}: --rows needs data.source synthetic, got {base.data.source}")
    unknown = sorted(set(phases) - {"train", "tune", "predict"})
    if unknown:
        raise RecipeError(f"--phases: unknown phase {unknown[0]!r}, expected train, tune, predict")
    uri = tracking.resolve_uri(base.mlflow.tracking_uri)
    tracking.check_reachable(uri)
    tracker = tracking.RunTracker(uri, base.mlflow.experiment or base.name)
    parent = tracker.start(
        run_name=f"bench-{base.name}",
        tags={"mlscale.bench": "true", "recipe.name": base.name, "recipe.hash": recipe_hash(base)},
    )
    tracker.log_params(
        {
            "bench.engines": ",".join(engines),
            "bench.rows": ",".join(map(str, rows)) or "recipe",
            "bench.workers": ",".join(map(str, workers)) or "recipe",
            "bench.repeat": repeat,
            "bench.phases": ",".join(phases),
        }
    )
    records = []
    try:
        row_opts: list[int | None] = list(rows) or [None]
        worker_opts: list[int | None] = list(workers) or [None]
        combos = list(itertools.product(row_opts, worker_opts, range(repeat), engines))
        for n_rows, n_workers, rep, engine in combos:  # engines innermost: A B A B
            sets = _combination(engine, n_rows, n_workers, phases)
            log.info("bench: engine=%s rows=%s workers=%s repeat=%d", engine, n_rows, n_workers, rep)
            result = run(
                recipe_path,
                profiles=profiles,
                overrides={**_pairs(overrides), **sets},
                parent_run_id=parent,
                trust_recipe=trust_recipe,
            )
            synthetic = result.recipe.data.synthetic
            records.append(
                {
                    "engine": engine,
                    "rows": n_rows or (synthetic.n_rows if synthetic else None),
                    "workers": n_workers or result.recipe.engine.workers,
                    "repeat": rep,
                    "run_id": result.run_id,
                    "shape": result.cluster.tags()["cluster.shape"],
                    **result.timings,
                    **result.metrics,
                }
            )
        runs = pd.DataFrame(records)
        table = summarize(runs, group=["engine", "rows", "workers"])
        files = write_outputs(runs, table, Path(out_dir), title=f"mlscale bench {base.name}")
        for f in files:
            tracker.log_artifact(f, "bench")
        tracker.finish("FINISHED")
    except BaseException as exc:
        tracker.finish("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED", error=str(exc))
        raise
    return BenchResult(run_id=parent, table=table, runs=runs, files=files)


def _combination(
    engine: str, n_rows: int | None, n_workers: int | None, phases: Sequence[str]
) -> dict[str, Any]:
    """The overrides of one combination. The reference model is a quality check, not engine work: left
    out of the timings compared."""
    sets: dict[str, Any] = {"engine.name": engine, "evaluate.reference": "off"}
    if n_rows is not None:
        sets["data.synthetic.n_rows"] = n_rows
    if n_workers is not None:
        sets["engine.workers"] = n_workers
    if "tune" not in phases:
        sets["tune"] = None
    if "predict" not in phases:
        sets["predict"] = None
    return sets


def _pairs(overrides: Sequence[str]) -> dict[str, Any]:
    from mlscale.recipe.load import parse_override

    return dict(parse_override(o) for o in overrides)


def summarize(runs: pd.DataFrame, *, group: list[str]) -> pd.DataFrame:
    """Median / min / max per phase and group, the ratio of each group's median to the first group's."""
    group = [g for g in group if g in runs.columns and runs[g].notna().any()]
    rows = []
    quality = next((c for c in ("test_auc", "test_accuracy", "test_rmse") if c in runs.columns), None)
    keyed = runs.groupby(group, dropna=False, sort=False) if group else [((), runs)]
    for key, frame in keyed:
        key = key if isinstance(key, tuple) else (key,)
        for phase in PHASES:
            col = f"time_{phase}_s"
            if col not in frame or frame[col].isna().all():
                continue
            values = frame[col].dropna().tolist()
            rows.append(
                {
                    **dict(zip(group, key, strict=True)),
                    "phase": phase,
                    "median_s": statistics.median(values),
                    "min_s": min(values),
                    "max_s": max(values),
                    "n": len(values),
                    "quality": statistics.median(frame[quality].dropna()) if quality else None,
                    "quality_metric": quality,
                }
            )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    others = [g for g in group if g != "engine"]
    first_engine = runs["engine"].iloc[0] if "engine" in runs else None

    def ratio(row: pd.Series) -> float:
        ref = table[(table["phase"] == row["phase"]) & (table.get("engine") == first_engine)]
        for g in others:
            ref = ref[ref[g] == row[g]]
        return (
            float(row["median_s"] / ref["median_s"].iloc[0])
            if len(ref) and ref["median_s"].iloc[0]
            else float("nan")
        )

    if "engine" in table:
        table[f"ratio_vs_{first_engine}"] = table.apply(ratio, axis=1)
    return table


def write_outputs(runs: pd.DataFrame, table: pd.DataFrame, out_dir: Path, *, title: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [out_dir / "table.csv", out_dir / "table.md", out_dir / "runs.csv", out_dir / "chart.png"]
    table.to_csv(files[0], index=False)
    files[1].write_text(f"# {title}\n\n" + _markdown(table) + "\n")
    runs.to_csv(files[2], index=False)
    _chart(runs, table, files[3], title)
    return files


def _markdown(table: pd.DataFrame) -> str:
    if table.empty:
        return "(no runs)"
    cols = list(table.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in table.iterrows():
        lines.append("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row) + " |")
    return "\n".join(lines)


def _chart(runs: pd.DataFrame, table: pd.DataFrame, path: Path, title: str) -> None:
    from mlscale.report.plots import figures

    plt = figures()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    if not table.empty and "engine" in table:
        phases = [p for p in PHASES if p in set(table["phase"])]
        engines = list(dict.fromkeys(table["engine"]))
        width = 0.8 / max(1, len(engines))
        for i, engine in enumerate(engines):
            sub = table[table["engine"] == engine].groupby("phase")["median_s"].median()
            a1.bar(
                [j + i * width for j in range(len(phases))],
                [sub.get(p, 0) for p in phases],
                width,
                label=engine,
            )
        a1.set_xticks([j + width * (len(engines) - 1) / 2 for j in range(len(phases))], phases)
        a1.set_ylabel("seconds (median)")
        a1.set_title("time per phase")
        a1.legend()
    if "rows" in runs and runs["rows"].notna().any() and "time_train_s" in runs:
        for engine, frame in runs.groupby("engine", sort=False):
            med = frame.groupby("rows")["time_train_s"].median()
            a2.plot(med.index, med.values, "o-", label=str(engine))
        a2.set_xlabel("rows")
        a2.set_ylabel("train seconds (median)")
        a2.set_title("scaling")
        a2.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def compare(
    *,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    run_ids: Sequence[str] = (),
    tags: Sequence[str] = (),
    out_dir: str | Path = "output/compare",
) -> tuple[pd.DataFrame, list[Path]]:
    """The bench table for runs already logged (e.g. a laptop run and a cluster run on one server)."""
    uri = tracking.resolve_uri(tracking_uri)
    tracking.check_reachable(uri)
    filters = ["attributes.status = 'FINISHED'"]
    for t in tags:
        key, sep, value = t.partition("=")
        if not sep or not key:
            raise RecipeError(f"--tag: expected KEY=VALUE, got {t!r}")
        filters.append(f"tags.`{key}` = '{value}'")
    runs = tracking.search_runs(
        uri, experiment, run_ids=list(run_ids) or None, filter_string=" and ".join(filters)
    )
    if runs.empty:
        raise RecipeError(f"compare: no finished runs found at {mask_text(uri)}")
    if "tags.mlscale.trial_id" in runs:
        runs = runs[runs["tags.mlscale.trial_id"].isna()]
    if "tags.mlscale.bench" in runs:
        runs = runs[runs["tags.mlscale.bench"].isna()]
    frame = pd.DataFrame(
        {
            "run_id": runs["run_id"],
            "engine": runs.get("tags.engine"),
            "shape": runs.get("tags.cluster.shape"),
            **{c.removeprefix("metrics."): runs[c] for c in runs.columns if c.startswith("metrics.")},
        }
    )
    frame = frame[frame["engine"].notna()]
    table = summarize(frame, group=["engine", "shape"])
    files = write_outputs(frame, table, Path(out_dir), title="mlscale compare")
    return table, files
