"""Where a run writes, by name: predict.output, the plots beside it, the report (no check, no I/O)."""

from __future__ import annotations

from pathlib import Path

from mlscale.recipe import Recipe
from mlscale.recipe.schema import PredictConfig

REPORT_FILE = "report.html"
DEFAULT_DIR = Path("output")  # the report of a run without predict, and `mlscale report`'s
PLOTS_DIR = "plots"


def output_path(predict: PredictConfig) -> Path:
    """predict.output as a path (a partitioned output may be spelt with a trailing '/')."""
    return Path(predict.output.rstrip("/") or predict.output)


def plots_dir(predict: PredictConfig) -> Path:
    """Where `mlscale run` keeps its plots: plots/ beside predict.output."""
    return output_path(predict).parent / PLOTS_DIR


def report_path(recipe: Recipe) -> Path:
    """Beside the predictions (predict.output's folder), else output/report.html."""
    folder = output_path(recipe.predict).parent if recipe.predict is not None else DEFAULT_DIR
    return folder / REPORT_FILE
