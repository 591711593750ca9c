"""`mlscale explain`: per-row SHAP contributions of an input with an existing model, written like predict.

The same input, output and pre-flight rules as `mlscale predict` (the recipe's predict section, with
--input / --output / --model over it; an output that is an input is refused, exit 2); the output is one
file written atomically, or a partitioned directory (predict.partitioned, or an output ending in "/").
Columns: the id columns, then shap_<feature> for every feature and shap_bias (multiclass:
shap_<class>_<feature>); each row's values sum to the model's raw margin (log-odds for classification).
Computed in this process, streaming the input batch by batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mlscale.assess.explanations import contribution_frame
from mlscale.recipe.resolve import resolve_recipe
from mlscale.results import OnProgress
from mlscale.scoring.predict import predict_in_process
from mlscale.util.scoped import restoring
from mlscale.workflow.run import Scoring, log_scored, preflight_scoring

OUTPUT_NAME = "contributions"


def default_output(predict_output: str, dataset: bool) -> str:
    """Beside the recipe's predictions: <dir>/contributions.parquet, or <dir>/contributions/ for parts."""
    parent = Path(predict_output.rstrip("/") or predict_output).parent
    if dataset:
        return f"{parent / OUTPUT_NAME}/"
    return str(parent / f"{OUTPUT_NAME}{Path(predict_output).suffix or '.parquet'}")


@restoring
def explain(
    recipe: str | Path,
    *,
    model: str,
    input: str,
    output: str | None = None,
    engine: str | None = None,
    profiles: Iterable[str | Path] = (),
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
    progress: OnProgress | None = None,
    trust_recipe: bool = False,
    overwrite: bool = False,
) -> Path:
    """Write the contributions of `input`'s rows under `model`; returns the output path. `overwrite`:
    replace an existing output that mlscale did not write (`--overwrite`)."""
    # an output given here is confirmed like --set (the default is derived from predict.output)
    arguments = {"predict.input": input, "predict.model": model, "predict.output": output}
    resolved = resolve_recipe(
        recipe, engine=engine, profiles=profiles, overrides=overrides, arguments=arguments
    )
    loaded, source = resolved.recipe, resolved.source
    assert loaded.predict is not None
    target = output or default_output(loaded.predict.output, loaded.predict.dataset)
    loaded = loaded.model_copy(update={"predict": loaded.predict.model_copy(update={"output": target})})
    checks = Scoring(command="explain", trust_recipe=trust_recipe, overwrite=overwrite, reads=resolved.reads)
    scoring = preflight_scoring(loaded, source, checks)
    assert loaded.predict is not None  # preflight_scoring refuses a recipe without one
    result = predict_in_process(
        scoring,
        loaded.predict,
        test_frame=None,
        where=f"{source}: explain",
        progress=progress,
        scorer=contribution_frame,
    )
    log_scored(result, command="explain", done="explained")
    return result.output
