"""Every public entry point takes its recipe through `mlscale.recipe.resolve.resolve_recipe`."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd
import pytest

import mlscale
from mlscale.errors import RecipeError
from mlscale.recipe.resolve import resolve_recipe

PACKAGE = Path(__file__).resolve().parents[2] / "mlscale"
RECIPE = "name: r\ndata: {source: sklearn, dataset: iris}\ntrain: {num_boost_round: 3}\n"


def test_no_entry_point_loads_a_recipe_by_itself() -> None:
    """load_recipe is called only by the recipe layer (resolve) and the CLI's validate/kuberay commands."""
    callers = []
    for path in [
        *(PACKAGE / "workflow").glob("*.py"),
        *(PACKAGE / "deploy").glob("*.py"),
        PACKAGE / "__init__.py",
    ]:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", "")) == "load_recipe"
            ):
                callers.append(path.name)
    assert callers == []


def test_a_path_gives_the_files_read_and_a_recipe_its_name(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(RECIPE)
    (tmp_path / "p.yaml").write_text("train: {eta: 0.2}\n")
    resolved = resolve_recipe(
        tmp_path / "r.yaml", profiles=[tmp_path / "p.yaml"], overrides=["train.max_depth=3"],
        arguments={"predict.output": "o.csv", "predict.input": None},
    )  # fmt: skip
    assert resolved.source == str(tmp_path / "r.yaml")
    assert resolved.reads == (("the recipe", tmp_path / "r.yaml"), ("the profile", tmp_path / "p.yaml"))
    assert (resolved.recipe.train.eta, resolved.recipe.train.max_depth) == (0.2, 3)
    assert resolved.recipe.predict is not None and resolved.recipe.predict.output == "o.csv"
    again = resolve_recipe(resolved.recipe, arguments={"train.eta": 0.05})
    assert again.source == "<recipe r>" and again.reads == () and again.recipe.train.eta == 0.05
    with pytest.raises(
        RecipeError, match=r"^<recipe r>: engine, profiles and overrides go with a recipe path"
    ):
        resolve_recipe(resolved.recipe, overrides=["train.eta=0.1"])
    with pytest.raises(RecipeError, match=r"^<recipe r>: train.eta"):
        resolve_recipe(resolved.recipe, arguments={"train.eta": -1})


def test_predict_with_a_recipe_object_scores_the_input_and_output_it_is_given(workdir: Path) -> None:
    """The arguments of `mlscale.predict` hold for a Recipe built in Python too (they were ignored)."""
    (workdir / "r.yaml").write_text(RECIPE)
    result = mlscale.run(workdir / "r.yaml")
    from sklearn.datasets import load_iris

    new = load_iris(as_frame=True).frame.drop(columns=["target"]).head(7)
    new.columns = [c.replace(" ", "_") for c in new.columns]
    new.to_csv(workdir / "new.csv", index=False)
    recipe = mlscale.load_recipe(workdir / "r.yaml")
    out = mlscale.predict(recipe, model=f"runs:/{result.run_id}/model", input="new.csv", output="scored.csv")
    assert out.name == "scored.csv" and len(pd.read_csv(out)) == 7
