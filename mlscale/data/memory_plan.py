"""Peak training memory, estimated before anything is read, and whether `train.external_memory: auto`
switches on. `mlscale plan` prints this estimate and `mlscale run` decides with it: one function, `decide`.

In memory, the driver holds the whole table as pandas (8 bytes per cell), the typed features (float32) and
their train/valid/test copies, and the quantised matrix (1 byte per feature cell), plus the imported
libraries: `BASE_BYTES + rows x (8 x columns + 9 x features)`; 1M x 28 float32 columns estimates 740 MB
against 789 MB measured (README, Performance). A CSV's rows are unknown before it is read: 4 bytes of
memory per byte of file. A ray worker holds its shard's features and matrix: `BASE_BYTES + rows / workers
x 9 x features`. With external memory a process holds batches in flight, the valid and test splits, and
xgboost's per-row training state and cache pages as it reads them: `BASE_BYTES + EXTMEM_FIXED_BYTES +
rows x EXTMEM_ROW_BYTES + (valid + test share) x rows x 8 x columns`, fitted to benchmarks/extmem_bench.py
(849 MB at 5M x 28, 1705 MB at 20M x 28; benchmarks/results/extmem_bench.md).

`auto` switches on when the in-memory estimate on the driver exceeds `AUTO_SHARE` of the memory available
on this machine (psutil's `available`); the environment variable `MLSCALE_MEMORY_BUDGET_MB` replaces that
available memory (tests and small machines use it to see the switch).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from mlscale.errors import RecipeError
from mlscale.recipe.schema import Recipe

AUTO_SHARE = 0.5
BASE_BYTES = 300 * 2**20  # python, pandas, pyarrow, xgboost and sklearn imported (measured: ~290 MB)
CSV_BYTES_PER_FILE_BYTE = 4
EXTMEM_FIXED_BYTES = 250 * 2**20  # batches in flight and the matrix build (measured, see above)
EXTMEM_ROW_BYTES = 57  # per train row with external memory: xgboost's gradients, predictions, row positions
BUDGET_ENV = "MLSCALE_MEMORY_BUDGET_MB"
STREAMABLE = ("csv", "parquet")


@dataclass(frozen=True)
class MemoryPlan:
    """Estimated peaks in bytes, the memory the switch compares with, and the decision."""

    in_memory: int  # the driver, whole table in memory
    per_worker: int  # one ray worker's shard in memory (equal to in_memory for engine local)
    external: int  # the driver with external memory
    available: int
    budget_from_env: bool
    mode: str  # the recipe's auto | on | off
    on: bool  # external memory is used
    reason: str

    def describe(self) -> str:
        """One line for `mlscale plan` and the run's log."""
        gb = 2**30
        state = "on" if self.on else "off"
        source = BUDGET_ENV if self.budget_from_env else "available"
        return (
            f"peak estimate {self.in_memory / gb:.2f} GB in memory on the driver"
            f"{f', {self.per_worker / gb:.2f} GB per worker' if self.per_worker != self.in_memory else ''}, "
            f"{self.external / gb:.2f} GB with external memory; {source} {self.available / gb:.2f} GB; "
            f"external memory {state} ({self.reason})"
        )


def available_bytes() -> tuple[int, bool]:
    """(memory training may use, whether MLSCALE_MEMORY_BUDGET_MB set it)."""
    value = os.environ.get(BUDGET_ENV)
    if value:
        try:
            return int(float(value) * 2**20), True
        except ValueError as exc:
            raise RecipeError(f"{BUDGET_ENV}: expected a number of megabytes, got {value!r}") from exc
    import psutil

    return int(psutil.virtual_memory().available), False


def decide(recipe: Recipe, summary: dict[str, Any], *, source: str, workers: int = 1) -> MemoryPlan:
    """The estimate for a recipe and its data summary (`mlscale.data.describe_source`), and the decision."""
    rows, columns = summary.get("rows"), summary.get("columns")
    features = max(1, (columns or 2) - 1)
    if rows is None or columns is None:
        table = int(summary.get("bytes", 0)) * CSV_BYTES_PER_FILE_BYTE
        in_memory = BASE_BYTES + 2 * table
        shard = table // max(1, workers)
        held = table
        rows_known = table // 64  # a rough row count for the per-row term
    else:
        in_memory = BASE_BYTES + rows * (8 * columns + 9 * features)
        shard = rows * 9 * features // max(1, workers)
        held = rows * 8 * columns
        rows_known = rows
    split = recipe.data.split
    external = (
        BASE_BYTES
        + EXTMEM_FIXED_BYTES
        + rows_known * EXTMEM_ROW_BYTES
        + int((split.valid + split.test) * held)
    )
    available, from_env = available_bytes()
    mode = recipe.train.external_memory
    streamable = can_stream(recipe)
    if mode == "on" and not streamable:
        raise RecipeError(
            f"{source}: train.external_memory: on needs data.source csv or parquet without data.preprocess, "
            f"got {recipe.data.source}{' with a preprocess hook' if recipe.data.preprocess else ''}"
        )
    over = in_memory > AUTO_SHARE * available
    if mode == "auto":
        on = over and streamable
        reason = f"auto: the estimate is {'above' if over else 'within'} {AUTO_SHARE:.0%} of it" + (
            "" if streamable or not over else "; this source cannot be streamed"
        )
    else:
        on, reason = mode == "on", f"train.external_memory: {mode}"
    per_worker = in_memory if workers <= 1 else BASE_BYTES + shard
    return MemoryPlan(
        in_memory=in_memory,
        per_worker=per_worker,
        external=external,
        available=available,
        budget_from_env=from_env,
        mode=mode,
        on=on,
        reason=reason,
    )


def can_stream(recipe: Recipe) -> bool:
    """Whether the source can be read in batches: a csv/parquet file without a preprocess hook."""
    return recipe.data.source in STREAMABLE and not recipe.data.preprocess


def needs_estimate(recipe: Recipe) -> bool:
    """Whether the run's data step must ask `for_recipe` at all: `off`, or `auto` on a source that cannot
    be streamed, always loads the table (and `on` must still be refused where it cannot stream)."""
    mode = recipe.train.external_memory
    return mode == "on" or (mode == "auto" and can_stream(recipe))


def for_recipe(recipe: Recipe, summary: dict[str, Any], *, source: str) -> MemoryPlan:
    """`decide` with the recipe's training processes: engine.workers on a distributed engine, else one."""
    workers = recipe.engine.workers if recipe.engine.settings.distributed else 1
    return decide(recipe, summary, source=source, workers=workers)
