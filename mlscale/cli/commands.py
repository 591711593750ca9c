"""The `mlscale` commands. They talk to runner/planning/submitting/bench only; never to engines."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from mlscale._version import __version__
from mlscale.cli.display import mask, print_plan, print_table, progress_display, summary
from mlscale.cli.logs import STATE
from mlscale.cli.options import (
    LoggedGroup,
    RecipeArgs,
    cluster_option,
    common,
    html_option,
    out_options,
    overwrite_option,
    profile_option,
    recipe_argument,
    recipe_tracking_uri_option,
    set_option,
    tracking_uri_option,
    trust_option,
    trusted,
)
from mlscale.engine_names import BUILTIN
from mlscale.util.masking import mask_secrets, mask_text


@click.group(cls=LoggedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="mlscale")
@common
def cli() -> None:
    """One XGBoost recipe, the same on a laptop (engine local) and on a Ray cluster (engine ray)."""


@cli.command()
@recipe_argument
@cluster_option
@click.option("--resume", is_flag=True, help="Continue an interrupted tuning run of this recipe.")
@overwrite_option
@common
def run(recipe: RecipeArgs, address: str | None, resume: bool, overwrite: bool) -> None:
    """Train, tune and predict as the RECIPE says; log everything to MLflow."""
    from mlscale.deploy.job_entry import detach_from_ray_working_dir, finish_working_copy

    job_copy = detach_from_ray_working_dir()
    from mlscale.workflow.run import run as run_recipe

    try:
        with progress_display(enabled=_live()) as progress:
            result = run_recipe(
                recipe.path,
                address=address,
                resume=resume,
                overwrite=overwrite,
                progress=progress,
                **recipe.keywords(),
            )
    finally:
        finish_working_copy(job_copy)
    summary(result)


@cli.command()
@recipe_argument
@common
def validate(recipe: RecipeArgs) -> None:
    """Validate RECIPE (with profiles and overrides) and print the resolved recipe."""
    import yaml

    from mlscale.recipe import load_recipe
    from mlscale.recipe.trust import describe_reach

    resolved = load_recipe(
        recipe.path, profiles=recipe.profiles, overrides=recipe.overrides, engine=recipe.engine
    )
    shown = mask_secrets(resolved.model_dump(mode="json"))  # the recipe as resolved, secrets as ***
    click.echo(yaml.safe_dump(shown, sort_keys=False), nl=False)
    for line in describe_reach(resolved):  # as YAML comments: the output stays a valid recipe
        click.echo(f"# {mask_text(line)}")


@cli.command()
@recipe_argument
@click.option(
    "--address",
    envvar="RAY_API_SERVER_ADDRESS",
    required=True,
    help="The cluster's dashboard (Jobs API), e.g. http://127.0.0.1:8265. Env: RAY_API_SERVER_ADDRESS.",
)
@click.option(
    "--wait/--no-wait", default=True, show_default=True, help="Stream the job's logs until it ends."
)
@click.option(
    "--python",
    default=None,
    show_default="this interpreter on a cluster on this machine, else python",
    help="Interpreter on the cluster.",
)
@click.option(
    "--pip/--no-pip",
    default=None,
    show_default="on a remote cluster only",
    help="Install mlscale's requirements in the job.",
)
@common
def submit(recipe: RecipeArgs, address: str, wait: bool, python: str | None, pip: bool | None) -> None:
    """Run RECIPE as a Ray Job on a cluster; exit with the job's status."""
    from mlscale.deploy.submit import submit as submit_recipe

    job = submit_recipe(recipe.path, address=address, wait=wait, python=python, pip=pip, **recipe.keywords())
    if not wait:
        click.echo(
            f"submitted: {job.job_id} (follow with: ray job logs --address {mask(job.address)} -f {job.job_id})"
        )
        return
    click.echo(f"job {job.job_id}: {job.status}")
    if job.status != "SUCCEEDED":
        sys.exit(1)


@cli.command()
@recipe_argument
@cluster_option
@overwrite_option
@common
def plan(recipe: RecipeArgs, address: str | None, overwrite: bool) -> None:
    """Say what RECIPE would run where, and refuse (exit 2) what the cluster cannot schedule."""
    from mlscale.workflow.plan import plan as plan_recipe

    print_plan(plan_recipe(recipe.path, address=address, overwrite=overwrite, **recipe.keywords()))


model_option = click.option(
    "--model",
    required=True,
    help="runs:/<id>/model, models:/m-<id>, models:/<name>/<version|latest>, models:/<name>@<alias>, a run id or a directory.",
)


@cli.command()
@recipe_argument
@cluster_option
@model_option
@click.option(
    "--input",
    "input_path",
    default=None,
    help="File, directory or glob to predict (overrides predict.input).",
)
@click.option("--output", default=None, help="Output file (overrides predict.output).")
@overwrite_option
@common
def predict(
    recipe: RecipeArgs,
    address: str | None,
    model: str,
    input_path: str | None,
    output: str | None,
    overwrite: bool,
) -> None:
    """Batch inference with an existing model, streaming the input."""
    from mlscale.workflow.run import predict as run_predict

    options = {"model": model, "input": input_path, "output": output, "overwrite": overwrite}
    _write_output(run_predict, recipe, address=address, **options)


def _write_output(command: Any, recipe: RecipeArgs, **options: Any) -> None:
    """predict and explain: run with a progress display, then print the output's path."""
    with progress_display(enabled=_live()) as progress:
        path = command(recipe.path, progress=progress, **recipe.keywords(), **options)
    click.echo(str(path))


@cli.command()
@recipe_argument
@model_option
@click.option("--input", "input_path", required=True, help="File, directory or glob whose rows to explain.")
@click.option(
    "--output",
    default=None,
    show_default="contributions.parquet beside predict.output",
    help="Output file, or a directory ending in / for part files.",
)
@overwrite_option
@common
def explain(recipe: RecipeArgs, model: str, input_path: str, output: str | None, overwrite: bool) -> None:
    """Per-row SHAP contributions (xgboost's own) of an input with an existing model, written like predict."""
    from mlscale.workflow.explain import explain as run_explain

    _write_output(run_explain, recipe, model=model, input=input_path, output=output, overwrite=overwrite)


@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--engines", default=",".join(BUILTIN), show_default=True, help="Engines to compare, in order.")
@click.option(
    "--rows",
    default="",
    show_default="the recipe's",
    help="Row counts (synthetic sources), e.g. 100000,1000000.",
)
@click.option("--workers", default="", show_default="the recipe's", help="engine.workers values, e.g. 1,2.")
@click.option(
    "--repeat", default=1, show_default=True, type=click.IntRange(1, 100), help="Runs of each combination."
)
@click.option("--phases", default="train,tune,predict", show_default=True, help="Phases to time.")
@click.option("--out", "out_dir", default="output/bench", show_default=True, help="Where table and chart go.")
@html_option
@profile_option
@set_option
@recipe_tracking_uri_option
@trust_option
@common
def bench(
    recipe: str,
    engines: str,
    rows: str,
    workers: str,
    repeat: int,
    phases: str,
    out_dir: str,
    html: str | None,
    profiles: tuple[str, ...],
    sets: tuple[str, ...],
) -> None:
    """Run RECIPE on several engines / sizes and print where the time goes (with the score reached)."""
    from mlscale.workflow.bench import bench as run_bench

    result = run_bench(
        recipe,
        engines=_csv(engines),
        rows=[_int(r, "--rows") for r in _csv(rows)],
        workers=[_int(w, "--workers") for w in _csv(workers)],
        repeat=repeat,
        phases=_csv(phases),
        profiles=profiles,
        overrides=list(sets),
        out_dir=out_dir,
        trust_recipe=trusted(),
    )
    print_table(result.table, f"mlscale bench (parent run {result.run_id})")
    files = [*result.files, *_html_page("mlscale bench", result.table, result.files, html)]
    click.echo("\n".join(str(f) for f in files))


@cli.command()
@click.option("--experiment", default=None, show_default="every experiment", help="Experiment name.")
@click.option("--runs", "run_ids", multiple=True, help="A run id to compare. Repeatable.")
@click.option(
    "--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Only runs with this tag. Repeatable."
)
@tracking_uri_option
@click.option(
    "--out", "out_dir", default="output/compare", show_default=True, help="Where table and chart go."
)
@html_option
@common
def compare(
    experiment: str | None,
    run_ids: tuple[str, ...],
    tags: tuple[str, ...],
    tracking_uri: str | None,
    out_dir: str,
    html: str | None,
) -> None:
    """Compare logged runs by engine and cluster shape (e.g. a laptop run and a cluster run)."""
    from mlscale.workflow.bench import compare as run_compare

    table, files = run_compare(
        tracking_uri=tracking_uri,
        experiment=experiment,
        run_ids=list(run_ids),
        tags=list(tags),
        out_dir=out_dir,
    )
    print_table(table, "mlscale compare")
    click.echo("\n".join(str(f) for f in [*files, *_html_page("mlscale compare", table, files, html)]))


@cli.command()
@click.argument("run_ref", metavar="RUN_ID_OR_URI")
@click.option(
    "--out",
    default=None,
    type=click.Path(dir_okay=False),
    show_default="output/report-<run id>.html",
    help="Where the page goes.",
)
@tracking_uri_option
@click.option("--open", "open_page", is_flag=True, help="Open the page in the web browser.")
@common
def report(run_ref: str, out: str | None, tracking_uri: str | None, open_page: bool) -> None:
    """Rebuild the report.html of an mlscale run (run id, runs:/ URI or MLflow link) from MLflow alone."""
    from mlscale.report.build import rebuild

    path = rebuild(run_ref, tracking_uri=tracking_uri, out=out)
    click.echo(str(path))
    if open_page:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())


def _html_page(title: str, table: Any, files: list[Any], html: str | None) -> list[Any]:
    from mlscale.report.build import table_page

    return [table_page(title, table, files, html)] if html else []


@cli.command()
@click.option(
    "--data",
    default=None,
    show_default="a demo set of scikit-learn",
    help="A csv/parquet file, directory or glob.",
)
@click.option("--task", default=None, show_default="inferred", help="binary, multiclass or regression.")
@click.option("--target", default=None, show_default="guessed", help="Target column.")
@click.option("--name", default=None, show_default="from the data", help="Recipe name.")
@out_options
@common
def init(
    data: str | None,
    task: str | None,
    target: str | None,
    name: str | None,
    out: str | None,
    force: bool,
) -> None:
    """Scaffold a commented recipe from a data file (target, categoricals and task inferred)."""
    from mlscale.scaffold import scaffold_recipe

    text = scaffold_recipe(data=data, task=task, target=target, name=name)
    _emit(text, out, force=force, next_step=f"mlscale plan {out} && mlscale run {out}")


@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@profile_option
@set_option
@click.option(
    "--image",
    default=None,
    show_default="rayproject/ray with a pip runtime env",
    help="Container image with mlscale installed.",
)
@click.option("--package", default=None, help="pip requirement for mlscale itself, e.g. a wheel URL.")
@click.option("--namespace", default=None, help="Kubernetes namespace.")
@click.option("--name", default=None, show_default="from the recipe", help="RayJob name.")
@click.option(
    "--autoscale",
    is_flag=True,
    help="KubeRay's autoscaler on: worker pods come for the job and go when idle.",
)
@click.option("--min-workers", type=int, default=0, show_default=True, help="With --autoscale: fewest pods.")
@click.option(
    "--max-workers",
    type=int,
    default=None,
    show_default="engine.workers",
    help="With --autoscale: most pods.",
)
@click.option(
    "--idle-timeout",
    type=int,
    default=60,
    show_default=True,
    help="With --autoscale: seconds an idle pod stays.",
)
@click.option(
    "--upscaling-mode",
    type=click.Choice(["Default", "Conservative", "Aggressive"]),
    default="Default",
    show_default=True,
    help="With --autoscale: how fast pods are added.",
)
@trust_option
@out_options
@common
def kuberay(
    recipe: str,
    profiles: tuple[str, ...],
    sets: tuple[str, ...],
    image: str | None,
    package: str | None,
    namespace: str | None,
    name: str | None,
    autoscale: bool,
    min_workers: int,
    max_workers: int | None,
    idle_timeout: int,
    upscaling_mode: Any,
    out: str | None,
    force: bool,
) -> None:
    """Render a KubeRay RayJob (plus a ConfigMap with the recipe) for RECIPE: kubectl apply -f it."""
    from mlscale.deploy.autoscaling import Autoscaling
    from mlscale.deploy.kuberay import render_rayjob_file

    source = click.get_current_context().get_parameter_source
    for option in ("min_workers", "max_workers", "idle_timeout", "upscaling_mode"):
        if not autoscale and source(option) == click.core.ParameterSource.COMMANDLINE:
            raise click.UsageError(f"--{option.replace('_', '-')} needs --autoscale")
    scaling = Autoscaling(min_workers, max_workers, idle_timeout, upscaling_mode) if autoscale else None
    text = render_rayjob_file(
        recipe,
        profiles=profiles,
        overrides=list(sets),
        image=image,
        namespace=namespace,
        name=name,
        package=package,
        trust_recipe=trusted(),
        autoscaling=scaling,
    )
    _emit(text, out, force=force, next_step=f"kubectl apply -f {out}")


def _emit(text: str, out: str | None, *, force: bool, next_step: str) -> None:
    """Generated text to stdout, or whole to a new file `out` followed by the next command to run."""
    if out is None:
        click.echo(text, nl=False)
        return
    _write_new(out, text, force=force)
    click.echo(f"wrote {out}; next: {next_step}", err=True)


def _write_new(path: str, text: str, *, force: bool) -> None:
    """Write whole or not at all, and never over an existing file unless asked."""
    import tempfile
    from pathlib import Path

    from mlscale.errors import RecipeError

    target = Path(path)
    if target.exists() and not force:
        raise RecipeError(f"--out: {path} exists; pass --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, target)


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _int(text: str, option: str) -> int:
    try:
        return int(text.replace("_", ""))
    except ValueError:
        from mlscale.errors import RecipeError

        raise RecipeError(f"{option}: expected integers separated by commas, got {text!r}") from None


def _live() -> bool:
    """The live progress display: on a terminal, without -q or --verbose."""
    return sys.stderr.isatty() and not STATE.quiet and not STATE.verbose
