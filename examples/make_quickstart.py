"""Writes examples/quickstart.ipynb (no outputs) from the cells below: edit here, then run

    .venv/bin/python examples/make_quickstart.py

The notebook's cells carry tags (``setup``, ``run-local``, ``run-ray``, ``compare``, ``plot``, ``ray-client``...)
and ids of the same names, so the output is byte-for-byte reproducible and the tests can find each cell.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOK = Path(__file__).resolve().with_name("quickstart.ipynb")

INTRO = """\
# mlscale quickstart: the same recipe on `local`, `ray` and `dask`

One YAML recipe (`recipes/breast_cancer.yaml`: load, train, tune, batch inference) runs unchanged on engine
`local` (plain xgboost in this process), on engine `ray` (here a private Ray instance on this machine) and on
engine `dask` (here a private Dask `LocalCluster`). The runs are logged to MLflow; this notebook then compares
their metrics and per-phase timings and plots them.
The last section connects to an **existing** Ray cluster with Ray Client (`ray://`).

Everything goes to a scratch folder (`$MLSCALE_NOTEBOOK_WORKDIR`, or a new temp dir): the MLflow sqlite store,
its artifacts, predictions and plots. The runs are shrunk (2 tuning trials, 30 boosting rounds) to take
seconds; drop the overrides for the real recipe."""

SETUP = """\
import os
import tempfile
from pathlib import Path

import mlscale


def repo_root() -> Path:
    \"\"\"The mlscale checkout: $MLSCALE_REPO, else the first folder from here up holding recipes/.\"\"\"
    if os.environ.get("MLSCALE_REPO"):
        return Path(os.environ["MLSCALE_REPO"]).resolve()
    for folder in (Path.cwd(), *Path.cwd().parents):
        if (folder / "recipes" / "breast_cancer.yaml").is_file():
            return folder
    return Path.cwd().resolve().parent  # Jupyter starts the kernel in the notebook's folder, <repo>/examples


REPO = repo_root()
RECIPE = REPO / "recipes" / "breast_cancer.yaml"
WORK = Path(os.environ.get("MLSCALE_NOTEBOOK_WORKDIR") or tempfile.mkdtemp(prefix="mlscale-quickstart-"))
WORK.mkdir(parents=True, exist_ok=True)
os.chdir(WORK)  # MLflow puts a sqlite store's artifacts in ./mlruns: keep them in the scratch folder too

TRACKING_URI = f"sqlite:///{WORK / 'mlflow.db'}"  # $MLFLOW_TRACKING_URI, when set, wins over this
SMALL = {"tune.num_samples": 2, "train.num_boost_round": 30, "mlflow.tracking_uri": TRACKING_URI}


def overrides(name: str, **more: object) -> dict[str, object]:
    \"\"\"SMALL plus a run name and a predictions/plots folder of its own for each run.\"\"\"
    return {
        **SMALL,
        "mlflow.run_name": f"quickstart-{name}",
        "predict.output": str(WORK / name / "predictions.parquet"),
        **more,
    }


print(f"mlscale {mlscale.__version__}\\nrecipe  {RECIPE}\\nruns    {TRACKING_URI}")"""

RECIPE_MD = """\
## The recipe

`mlscale.load_recipe` merges the overrides (dotted keys, like `--set` on the command line) into the YAML and
validates the result; a mistake raises `mlscale.RecipeError` with a one-line message before anything starts.
The same works from the shell: `mlscale validate recipes/breast_cancer.yaml --set train.num_boost_round=30`."""

RECIPE_CELL = """\
print(RECIPE.read_text())

recipe = mlscale.load_recipe(RECIPE, overrides=overrides("local"))
assert recipe.tune is not None and recipe.predict is not None
print(
    f"with the overrides: train.num_boost_round={recipe.train.num_boost_round}, "
    f"tune.num_samples={recipe.tune.num_samples}, predict.output={recipe.predict.output}"
)
# mlscale.recipe.recipe_yaml(recipe) prints the whole resolved recipe, defaults included"""

LOCAL_MD = """\
## Train on `local`

`mlscale.run` trains, tunes (the best trial's model wins), logs the model and plots, and scores the test split.
It returns a `RunResult`: `.metrics`, `.timings` (seconds per phase), `.run_id`, `.plots`, `.output_path`,
`.cluster`, `.booster`."""

LOCAL_CELL = """\
local = mlscale.run(RECIPE, engine="local", overrides=overrides("local"))
print(f"run {local.run_id} on {local.cluster.engine}: {local.cluster.layout or 'this process'}")
print(f"predictions: {local.output_path}")
{k: round(v, 4) for k, v in local.metrics.items()}"""

RAY_MD = """\
## The same on `ray`

No `engine.ray.address`: mlscale starts a private Ray instance on 127.0.0.1 (a few seconds, reported as
`time_startup_s`), trains with one xgboost actor per node, tunes with Ray Tune, predicts the test split in
this process (input files: a Ray task per file), and shuts the instance down again because it started it. A connection that already exists in the notebook (your own
`ray.init(...)`) is used instead and left open."""

RAY_CELL = """\
on_ray = mlscale.run(RECIPE, engine="ray", overrides=overrides("ray"))
print(f"run {on_ray.run_id} on {on_ray.cluster.engine}: {on_ray.cluster.layout}")
{k: round(v, 4) for k, v in on_ray.metrics.items()}"""

DASK_MD = """\
## The same on `dask`

No `engine.dask.address`: mlscale starts a private `distributed.LocalCluster` (worker processes on 127.0.0.1,
no dashboard) and closes it at the end. `engine.dask.address: tcp://<scheduler>:8786` joins a running
scheduler instead, and a `distributed.Client` already open in the notebook is used and left open."""

DASK_CELL = """\
on_dask = mlscale.run(RECIPE, engine="dask", overrides=overrides("dask"))
print(f"run {on_dask.run_id} on {on_dask.cluster.engine}: {on_dask.cluster.layout}")
{k: round(v, 4) for k, v in on_dask.metrics.items()}"""

COMPARE_MD = """\
## Compare

Quality should match (same data split, same seeds; tuning may pick slightly different trials), while the
timings show what a cluster engine costs on one small machine: start-up and per-task overhead that only pays
off with more data or more nodes."""

COMPARE_CELL = """\
import pandas as pd
from IPython.display import display

results = {"local": local, "ray": on_ray, "dask": on_dask}
metrics = pd.DataFrame({name: r.metrics for name, r in results.items()})
timings = pd.DataFrame({name: r.timings for name, r in results.items()})
for name in ("ray", "dask"):
    metrics[f"{name} - local"] = metrics[name] - metrics["local"]
    timings[f"{name} / local"] = timings[name] / timings["local"].where(timings["local"] > 0)
display(metrics.round(4))
display(timings.round(3))
for name in ("ray", "dask"):
    auc = results[name].metrics["test_auc"]
    gap = abs(metrics.loc["test_auc", f"{name} - local"])
    print(f"test_auc: local {local.metrics['test_auc']:.4f}, {name} {auc:.4f}, gap {gap:.4f}")"""

PLOT_MD = """\
## Plot

Time per phase, side by side. (`%matplotlib inline` again because mlscale draws its own plots with the `Agg`
backend.) Each run also wrote plots of its own, listed in `result.plots` and logged under the run's `plots/`:
the ROC / precision-recall curves of the `ray` run are shown below the bars."""

PLOT_CELL = """\
%matplotlib inline
import matplotlib.pyplot as plt
from IPython.display import Image

phases = [t for t in timings.index if t != "time_total_s"]
bars = timings.loc[phases, ["local", "ray", "dask"]]
bars.index = [t.removeprefix("time_").removesuffix("_s") for t in phases]
totals = ", ".join(f"{name} {r.timings['time_total_s']:.1f} s" for name, r in results.items())
ax = bars.plot.bar(figsize=(8, 3.5), rot=0)
ax.set_ylabel("seconds")
ax.set_title(f"{recipe.name}: time per phase (total: {totals})")
plt.show()

print("plots of the ray run:", ", ".join(p.name for p in on_ray.plots))
display(Image(filename=str(next(p for p in on_ray.plots if p.name == "roc_pr.png"))))"""

CLIENT_MD = """\
## An existing cluster from a notebook: Ray Client (`ray://`)

On the cluster's head node, `ray start --head --ray-client-server-port=10001` runs a Ray Client server; set
`engine.ray.address` to `ray://<head>:10001` and the notebook stays the driver while the work runs on the cluster.
mlscale ships itself to the cluster (`runtime_env` `py_modules`), so the cluster needs only the same Python,
Ray and xgboost versions. The same recipe, with one more override:

```python
mlscale.run(RECIPE, engine="ray", overrides={"engine.ray.address": "ray://<head>:10001"})
```

**Token authentication** (Ray ≥ 2.59, on by default): the head wrote its token to `~/.ray/auth_token`. The
kernel needs, before its first Ray call (export them before starting Jupyter, or set `os.environ` here):

```bash
export RAY_AUTH_MODE=token
export RAY_AUTH_TOKEN=<the contents of the head's ~/.ray/auth_token>   # or RAY_AUTH_TOKEN_PATH=<a copy of it>
```

The token travels in plain gRPC headers: across a network use TLS or an SSH tunnel
(`ssh -L 10001:127.0.0.1:10001 <head>`, then `ray://127.0.0.1:10001`).
Connecting yourself also works: after `ray.init("ray://<head>:10001", runtime_env={"py_modules": [mlscale]})`
mlscale uses that connection and leaves it open.

The cell below runs only when `MLSCALE_RAY_CLIENT_ADDRESS` is set (e.g. `ray://127.0.0.1:10001`).

Training and tuning run on the cluster. With a `ray://` address the `predict` phase streams in this
process, reading and writing paths on this machine (the cluster's nodes may not see them; Ray Data does
not work over Ray Client either: [ray#48682](https://github.com/ray-project/ray/issues/48682)). To run everything on the
cluster, submit the run as a Ray Job: `mlscale submit RECIPE --address http://<head>:8265`."""

CLIENT_CELL = """\
CLIENT_ADDRESS = os.environ.get("MLSCALE_RAY_CLIENT_ADDRESS")  # e.g. "ray://head.example.com:10001"
# os.environ["RAY_AUTH_MODE"] = "token"
# os.environ["RAY_AUTH_TOKEN"] = "..."  # the head's ~/.ray/auth_token; never commit it
if CLIENT_ADDRESS:
    on_cluster = mlscale.run(
        RECIPE, engine="ray", overrides=overrides("ray-client", **{"engine.ray.address": CLIENT_ADDRESS})
    )
    c = on_cluster.cluster
    print(f"run {on_cluster.run_id} via Ray Client: {c.nodes} node(s), {c.cpus:g} CPU; {c.layout}")
    print(f"test_auc {on_cluster.metrics['test_auc']:.4f} (local {local.metrics['test_auc']:.4f})")
else:
    print("MLSCALE_RAY_CLIENT_ADDRESS is not set: Ray Client example skipped")"""

NEXT_MD = """\
## Next

Browse the runs (parameters, metrics, learning curves, plots, the logged model) in the MLflow UI, or compare
them from the command line with the same table and chart `mlscale bench` prints:"""

NEXT_CELL = """\
print(f"mlflow ui --backend-store-uri {TRACKING_URI}")
print(f"mlscale compare --tracking-uri {TRACKING_URI} --experiment {recipe.mlflow.experiment or recipe.name}")"""

CELLS: list[tuple[str, str, str]] = [
    ("markdown", "intro", INTRO),
    ("code", "setup", SETUP),
    ("markdown", "recipe-md", RECIPE_MD),
    ("code", "recipe", RECIPE_CELL),
    ("markdown", "run-local-md", LOCAL_MD),
    ("code", "run-local", LOCAL_CELL),
    ("markdown", "run-ray-md", RAY_MD),
    ("code", "run-ray", RAY_CELL),
    ("markdown", "run-dask-md", DASK_MD),
    ("code", "run-dask", DASK_CELL),
    ("markdown", "compare-md", COMPARE_MD),
    ("code", "compare", COMPARE_CELL),
    ("markdown", "plot-md", PLOT_MD),
    ("code", "plot", PLOT_CELL),
    ("markdown", "ray-client-md", CLIENT_MD),
    ("code", "ray-client", CLIENT_CELL),
    ("markdown", "next-md", NEXT_MD),
    ("code", "next", NEXT_CELL),
]


def build() -> nbformat.NotebookNode:
    """The notebook, without outputs; cell ids and tags are the names above."""
    cells = []
    for kind, name, source in CELLS:
        make = new_code_cell if kind == "code" else new_markdown_cell
        cell = make(source=source, id=name, metadata={"tags": [name]})
        cells.append(cell)
    nb = new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
            "language_info": {"name": "python"},
        },
    )
    nbformat.validate(nb)
    return nb


def render() -> str:
    return nbformat.writes(build()) + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:  # exit 1 when the stored notebook differs from what this script writes
        return 0 if NOTEBOOK.is_file() and NOTEBOOK.read_text() == text else 1
    NOTEBOOK.write_text(text)
    print(f"wrote {NOTEBOOK}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
