"""`mlscale init`: write a commented starter recipe, from a data file or on a scikit-learn demo data set.

Only a sample of the data is read (csv: the first rows; parquet: the schema and the first rows of the
row groups holding the first rows), and only pandas / pyarrow are imported: never ray, mlflow or xgboost.
The target, the task and the categorical columns are worked out with the same rules `mlscale run`
applies (`mlscale.data`), and each guess is stated in a comment next to the setting it chose.

Conventions of the generated text: an optional setting is written commented out as `# key: value`
(lowercase key), ready to uncomment; a prose comment starts with a capital letter or a symbol.
The text is validated with mlscale's own recipe schema before it is returned.
"""

from __future__ import annotations

import os
import typing

from mlscale.data import is_text_column
from mlscale.errors import RecipeError
from mlscale.recipe.schema import Task
from mlscale.scaffold.guess import NAME, guess_target, id_columns
from mlscale.scaffold.plan import data_plan, demo_plan
from mlscale.scaffold.render import render, self_check

__all__ = ["guess_target", "id_columns", "is_text_column", "scaffold_recipe"]

TASKS: tuple[str, ...] = typing.get_args(Task)
SAMPLE_ROWS = 10_000


def scaffold_recipe(
    *,
    data: str | os.PathLike[str] | None = None,
    task: str | None = None,
    target: str | None = None,
    name: str | None = None,
    sample_rows: int = SAMPLE_ROWS,
) -> str:
    """The YAML text of a commented starter recipe.

    data: a csv / parquet file, a directory of them or a glob; None: a scikit-learn demo data set chosen
    by task (binary: breast_cancer, multiclass: wine, regression: diabetes).
    task: binary | multiclass | regression; None: inferred from the target like `mlscale run` does.
    target: the column to predict; None: guessed from the column names, else the last column.
    name: the recipe name; None: the data file's stem, or the demo data set's name.
    Raises RecipeError (a bad --task / --name) or DataError (unusable data, unknown --target, a task the
    target contradicts) with a one-line message; reads at most `sample_rows` rows.
    """
    if task is not None and task not in TASKS:
        raise RecipeError(f"--task must be one of {', '.join(TASKS)}, got {task!r}")
    if name is not None and not NAME.match(name):
        raise RecipeError(
            f"--name must be letters, digits, '_', '.' or '-' (starting with a letter or digit), got {name!r}"
        )
    if sample_rows < 1:
        raise ValueError(f"sample_rows must be >= 1, got {sample_rows}")
    if data is None:
        plan = demo_plan(task, target, name)
    else:
        plan = data_plan(os.fspath(data), task, target, name, sample_rows)
    text = render(plan)
    self_check(text, plan)
    return text
