"""The `mlscale` command. Talks to runner/bench only; never to engines.

Errors: one line on stderr, exit 2 for bad input, 1 for the environment, 130 on Ctrl-C, 143 on SIGTERM;
the traceback only with --verbose.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from mlscale._version import __version__
from mlscale.errors import MlscaleError
from mlscale.interrupts import sigterm_as_interrupt, terminated
from mlscale.masking import mask_secrets, mask_text
from mlscale.scoped import restored

log = logging.getLogger("mlscale")


class _State:
    verbose = False
    quiet = False


STATE = _State()


def _setup_logging(verbose: bool, quiet: bool) -> None:
    STATE.verbose, STATE.quiet = verbose, quiet
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    logger = logging.getLogger("mlscale")
    logger.handlers.clear()
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(show_path=False, show_time=False, markup=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(_MaskingFilter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    if not verbose:
        # Third-party chatter (Ray, MLflow, alembic) stays out of the terminal unless asked for.
        os.environ.setdefault("RAY_DEDUP_LOGS", "1")
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
        for name in ("mlflow", "alembic", "ray", "optuna", "urllib3", "py.warnings"):
            logging.getLogger(name).setLevel(logging.ERROR)
        import warnings

        warnings.filterwarnings("ignore")


class _MaskingFilter(logging.Filter):
    """Credentials out of every log line mlscale prints: the message, and a traceback it carries."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = mask_text(message), None
        if record.exc_info:
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None  # formatters print exc_text instead
        return True


_common = [
    click.option("-v", "--verbose", is_flag=True, help="Show debug logs, Ray/MLflow output and tracebacks."),
    click.option("-q", "--quiet", is_flag=True, help="Only warnings, errors and the final summary."),
]


def common(f: Any) -> Any:
    for option in reversed(_common):
        f = option(f)
    return f


def _remember_trust(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    ctx.meta["mlscale.trust_recipe"] = value
    return value


trust_option = click.option(
    "--trust-recipe",
    is_flag=True,
    expose_value=False,
    callback=_remember_trust,
    help="Use a remote engine.address / mlflow.tracking_uri that only the recipe names (default: refused).",
)


def _trusted() -> bool:
    return bool(click.get_current_context().meta.get("mlscale.trust_recipe"))


recipe_options = [
    click.option(
        "--engine", "engine", default=None, help="Engine to use (overrides engine.name): local or ray."
    ),
    trust_option,
    click.option("--profile", "profiles", multiple=True, help="Profile YAML deep-merged over the recipe."),
    click.option(
        "--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override one field, e.g. train.eta=0.1."
    ),
]


def with_recipe_options(f: Any) -> Any:
    for option in reversed(recipe_options):
        f = option(f)
    return f


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="mlscale")
def cli() -> None:
    """One XGBoost recipe, the same on a laptop (engine local) and on a Ray cluster (engine ray)."""


@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@with_recipe_options
@click.option("--resume", is_flag=True, help="Continue an interrupted tuning run of this recipe.")
@common
def run(
    recipe: str,
    engine: str | None,
    profiles: tuple[str, ...],
    sets: tuple[str, ...],
    resume: bool,
    verbose: bool,
    quiet: bool,
) -> None:
    """Train, tune and predict as the RECIPE says; log everything to MLflow."""
    _setup_logging(verbose, quiet)
    from mlscale._job import detach_from_ray_working_dir

    detach_from_ray_working_dir()
    from mlscale.runner import run as run_recipe

    with _progress_display(enabled=sys.stderr.isatty() and not quiet and not verbose) as progress:
        result = run_recipe(
            recipe,
            engine=engine,
            profiles=profiles,
            overrides=list(sets),
            resume=resume,
            progress=progress,
            trust_recipe=_trusted(),
        )
    _summary(result)


@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@with_recipe_options
@common
def validate(
    recipe: str,
    engine: str | None,
    profiles: tuple[str, ...],
    sets: tuple[str, ...],
    verbose: bool,
    quiet: bool,
) -> None:
    """Validate RECIPE (with profiles and overrides) and print the resolved recipe."""
    _setup_logging(verbose, quiet)
    import yaml

    from mlscale.recipe import load_recipe
    from mlscale.recipe.trust import describe_reach

    resolved = load_recipe(recipe, profiles=profiles, overrides=list(sets), engine=engine)
    shown = mask_secrets(resolved.model_dump(mode="json"))  # the recipe as resolved, secrets as ***
    click.echo(yaml.safe_dump(shown, sort_keys=False), nl=False)
    for line in describe_reach(resolved):  # as YAML comments: the output stays a valid recipe
        click.echo(f"# {mask_text(line)}")


@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@with_recipe_options
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
    "--python", default=None, help="Interpreter on the cluster (default: this one on a local cluster)."
)
@click.option(
    "--pip/--no-pip", default=None, help="Install mlscale's requirements in the job (default: remote only)."
)
@common
def submit(
    recipe: str,
    engine: str | None,
    profiles: tuple[str, ...],
    sets: tuple[str, ...],
    address: str,
    wait: bool,
    python: str | None,
    pip: bool | None,
    verbose: bool,
    quiet: bool,
) -> None:
    """Run RECIPE as a Ray Job on a cluster; exit with the job's status."""
    _setup_logging(verbose, quiet)
    from mlscale.runner import submit as submit_recipe

    job = submit_recipe(
        recipe,
        address=address,
        wait=wait,
        engine=engine,
        profiles=profiles,
        overrides=list(sets),
        python=python,
        pip=pip,
        trust_recipe=_trusted(),
    )
    if not wait:
        click.echo(
            f"submitted: {job.job_id} (follow with: ray job logs --address {_mask(job.address)} -f {job.job_id})"
        )
        return
    click.echo(f"job {job.job_id}: {job.status}")
    if job.status != "SUCCEEDED":
        sys.exit(1)


@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@with_recipe_options
@click.option("--address", default=None, help="Ray cluster to check against (overrides engine.address).")
@common
def plan(
    recipe: str,
    engine: str | None,
    profiles: tuple[str, ...],
    sets: tuple[str, ...],
    address: str | None,
    verbose: bool,
    quiet: bool,
) -> None:
    """Say what RECIPE would run where, and refuse (exit 2) what the cluster cannot schedule."""
    _setup_logging(verbose, quiet)
    from mlscale.runner import plan as plan_recipe

    overrides = list(sets) + ([f"engine.address={address}"] if address else [])
    result = plan_recipe(
        recipe, engine=engine, profiles=profiles, overrides=overrides, trust_recipe=_trusted()
    )
    _print_plan(result)


@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option(
    "--model",
    required=True,
    help="runs:/<id>/model, models:/<name>/<version|latest>, a run id or a directory.",
)
@click.option(
    "--input",
    "input_path",
    default=None,
    help="File, directory or glob to predict (overrides predict.input).",
)
@click.option("--output", default=None, help="Output file (overrides predict.output).")
@with_recipe_options
@common
def predict(
    recipe: str,
    model: str,
    input_path: str | None,
    output: str | None,
    engine: str | None,
    profiles: tuple[str, ...],
    sets: tuple[str, ...],
    verbose: bool,
    quiet: bool,
) -> None:
    """Batch inference with an existing model, streaming the input."""
    _setup_logging(verbose, quiet)
    from mlscale.runner import predict as run_predict

    with _progress_display(enabled=sys.stderr.isatty() and not quiet and not verbose) as progress:
        path = run_predict(
            recipe,
            model=model,
            input=input_path,
            output=output,
            engine=engine,
            profiles=profiles,
            overrides=list(sets),
            progress=progress,
            trust_recipe=_trusted(),
        )
    click.echo(str(path))


@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--engines", default="local,ray", show_default=True, help="Engines to compare, in order.")
@click.option("--rows", default="", help="Row counts (synthetic sources), e.g. 100000,1000000.")
@click.option("--workers", default="", help="engine.workers values, e.g. 1,2.")
@click.option("--repeat", default=1, show_default=True, type=click.IntRange(1, 100))
@click.option("--phases", default="train,tune,predict", show_default=True)
@click.option("--out", "out_dir", default="output/bench", show_default=True, help="Where table and chart go.")
@click.option("--profile", "profiles", multiple=True)
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE")
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
    profiles: tuple[str, ...],
    sets: tuple[str, ...],
    verbose: bool,
    quiet: bool,
) -> None:
    """Run RECIPE on several engines / sizes and print where the time goes (with the score reached)."""
    _setup_logging(verbose, quiet)
    from mlscale.bench import bench as run_bench

    result = run_bench(recipe, engines=_csv(engines), rows=[_int(r, "--rows") for r in _csv(rows)],
                       workers=[_int(w, "--workers") for w in _csv(workers)], repeat=repeat,
                       phases=_csv(phases), profiles=profiles, overrides=list(sets), out_dir=out_dir,
                       trust_recipe=_trusted())  # fmt: skip
    _print_table(result.table, f"mlscale bench (parent run {result.run_id})")
    click.echo("\n".join(str(f) for f in result.files))


@cli.command()
@click.option("--experiment", default=None, help="Experiment name (default: all).")
@click.option("--runs", "run_ids", multiple=True, help="Run ids to compare.")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Only runs with this tag.")
@click.option("--tracking-uri", default=None, help="Default: $MLFLOW_TRACKING_URI, then sqlite:///mlflow.db.")
@click.option("--out", "out_dir", default="output/compare", show_default=True)
@common
def compare(
    experiment: str | None,
    run_ids: tuple[str, ...],
    tags: tuple[str, ...],
    tracking_uri: str | None,
    out_dir: str,
    verbose: bool,
    quiet: bool,
) -> None:
    """Compare logged runs by engine and cluster shape (e.g. a laptop run and a cluster run)."""
    _setup_logging(verbose, quiet)
    from mlscale.bench import compare as run_compare

    table, files = run_compare(tracking_uri=tracking_uri, experiment=experiment, run_ids=list(run_ids),
                               tags=list(tags), out_dir=out_dir)  # fmt: skip
    _print_table(table, "mlscale compare")
    click.echo("\n".join(str(f) for f in files))


@cli.command()
@click.option(
    "--data", default=None, help="A csv/parquet file, directory or glob (default: a bundled demo set)."
)
@click.option("--task", default=None, help="binary, multiclass or regression (default: inferred).")
@click.option("--target", default=None, help="Target column (default: guessed).")
@click.option("--name", default=None, help="Recipe name (default: from the data).")
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@common
def init(
    data: str | None,
    task: str | None,
    target: str | None,
    name: str | None,
    out: str | None,
    force: bool,
    verbose: bool,
    quiet: bool,
) -> None:
    """Scaffold a commented recipe from a data file (target, categoricals and task inferred)."""
    _setup_logging(verbose, quiet)
    from mlscale.scaffold import scaffold_recipe

    text = scaffold_recipe(data=data, task=task, target=target, name=name)
    _emit(text, out, force=force, next_step=f"mlscale plan {out} && mlscale run {out}")


@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--profile", "profiles", multiple=True, help="Profile YAML deep-merged over the recipe.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override one field.")
@click.option(
    "--image", default=None, help="Container image with mlscale installed (default: rayproject/ray)."
)
@click.option("--package", default=None, help="pip requirement for mlscale itself, e.g. a wheel URL.")
@click.option("--namespace", default=None, help="Kubernetes namespace.")
@click.option("--name", default=None, help="RayJob name (default: from the recipe).")
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@common
def kuberay(
    recipe: str,
    profiles: tuple[str, ...],
    sets: tuple[str, ...],
    image: str | None,
    package: str | None,
    namespace: str | None,
    name: str | None,
    out: str | None,
    force: bool,
    verbose: bool,
    quiet: bool,
) -> None:
    """Render a KubeRay RayJob (plus a ConfigMap with the recipe) for RECIPE: kubectl apply -f it."""
    _setup_logging(verbose, quiet)
    from mlscale.kuberay import render_rayjob_file

    text = render_rayjob_file(
        recipe,
        profiles=profiles,
        overrides=list(sets),
        image=image,
        namespace=namespace,
        name=name,
        package=package,
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


@contextmanager
def _progress_display(*, enabled: bool) -> Iterator[Any]:
    """A live display on a terminal: each phase with its elapsed time; boosting rounds with the latest
    valid metric; tune trials done / total with the best score so far; inference rows/s with an ETA.
    Off for -q, --verbose and when stderr is not a terminal (CI logs stay plain)."""
    if not enabled:
        yield None
        return
    import threading
    import time

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    handler = next((h for h in logging.getLogger("mlscale").handlers if hasattr(h, "console")), None)
    bar = Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=getattr(handler, "console", None), transient=True,
    )  # fmt: skip
    tasks: dict[str, Any] = {}
    started: dict[str, float] = {}
    lock = threading.Lock()  # engines may report from a background thread

    def on_event(kind: str, info: Any) -> None:
        with lock:
            _draw(kind, info)
            bar.refresh()  # every event is drawn, even one shorter than the refresh interval

    def _draw(kind: str, info: Any) -> None:
        if kind == "phase":
            tasks[info["name"]] = bar.add_task(info["name"], total=None)
            started[info["name"]] = time.monotonic()
        elif kind == "phase_done" and info["name"] in tasks:
            bar.remove_task(tasks.pop(info["name"]))
        elif kind == "trial" and "tune" in tasks:
            best = "" if info["best"] is None else f", best {info['best']:.5f}"
            bar.update(tasks["tune"], total=info["total"], completed=info["done"], description=f"tune{best}")
        elif kind == "round" and "train" in tasks:
            latest = "".join(f", valid {k} {v:.5f}" for k, v in list(info["metrics"].items())[-1:])
            bar.update(
                tasks["train"],
                total=info["total"],
                completed=info["round"],
                description=f"train rounds{latest}",
            )
        elif kind == "rows" and "predict" in tasks:
            bar.update(tasks["predict"], total=info["total"], completed=info["done"],
                       description=_rows_line(info["done"], info["total"], time.monotonic() - started["predict"]))  # fmt: skip

    with bar:
        yield on_event


def _rows_line(done: int, total: int | None, seconds: float) -> str:
    """'predict 1.2M rows/s, ETA 0:08' from rows done so far and the phase's elapsed time."""
    rate = done / seconds if seconds > 0 else 0.0
    line = f"predict {_si(rate)} rows/s"
    if total and rate > 0 and done < total:
        left = int((total - done) / rate)
        line += f", ETA {left // 60}:{left % 60:02d}"
    return line


def _si(value: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.1f}{unit}"
    return f"{value:.0f}"


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _int(text: str, option: str) -> int:
    try:
        return int(text.replace("_", ""))
    except ValueError:
        from mlscale.errors import RecipeError

        raise RecipeError(f"{option}: expected integers separated by commas, got {text!r}") from None


def _print_table(table: Any, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Table(title=title)
    for col in table.columns:
        out.add_column(str(col))
    for _, row in table.iterrows():
        out.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row])
    Console(width=160).print(out)


def _summary(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(force_terminal=False if not sys.stdout.isatty() else None, width=110)
    table = Table(title=f"mlscale run {result.recipe.name} ({result.cluster.engine})", show_header=True)
    table.add_column("what")
    table.add_column("value", overflow="fold")
    for key, value in result.metrics.items():
        if key.startswith("test_") or (
            key.startswith("valid_") and not any(k.startswith("test_") for k in result.metrics)
        ):
            table.add_row(key, f"{value:.5f}")
    for key, value in result.timings.items():
        table.add_row(key, f"{value:.2f}")
    table.add_row("mlflow run", f"{result.run_id} ({result.experiment})")
    table.add_row("tracking", _mask(result.tracking_uri))
    if result.run_url:
        local = not result.tracking_uri.startswith(("http://", "https://"))
        hint = f"  (after: mlflow ui --backend-store-uri {_mask(result.tracking_uri)})" if local else ""
        table.add_row("view", f"{result.run_url}{hint}")
    if result.reference is not None:
        ref = result.reference
        scores = ", ".join(f"{k} {v:.5f}" for k, v in ref.metrics.items())
        table.add_row("reference", f"{ref.model} on {ref.rows:,} train rows: {ref.split} {scores}")
    if result.output_path is not None:
        table.add_row("output", str(result.output_path))
    if result.plots:
        table.add_row("plots", str(result.plots[0].parent))
    elif result.recipe.predict is None:
        table.add_row("plots", "in the mlflow run (plots/)")
    console.print(table)
    if result.quality_warning:
        click.echo(f"warning: {result.quality_warning}")
    if result.promotion is not None:
        click.echo(f"promotion: {result.promotion.summary}")


def _print_plan(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    recipe, data = result.recipe, result.data
    size = f"{data['bytes'] / 1e6:.1f} MB"
    rows = f"{data['rows']:,} rows" if data.get("rows") is not None else "rows unknown until read"
    cols = f" x {data['columns']} columns" if data.get("columns") is not None else ""
    files = f" in {data['files']} file(s)" if data.get("files") else ""
    table = Table(title=f"mlscale plan {recipe.name} (engine {recipe.engine.name})")
    table.add_column("phase")
    table.add_column("what runs where", overflow="fold")
    table.add_row("data", f"{recipe.data.source}: {rows}{cols}, {size}{files}")
    for phase, what in result.engine.steps:
        table.add_row(phase, mask_text(what))
    table.add_row("mlflow", _mask(result.tracking_uri))
    from mlscale.recipe.trust import describe_reach

    for line in describe_reach(recipe):
        table.add_row("reaches", _mask(line))
    Console(force_terminal=False if not sys.stdout.isatty() else None, width=110).print(table)
    for note in result.engine.notes:
        click.echo(f"note: {mask_text(note)}")
    click.echo("ok: the plan fits")


def _mask(uri: str) -> str:
    return mask_text(uri)


def _interrupted(exc: BaseException | None) -> None:
    """Exit as a shell reports the signal: 143 (128 + 15) for SIGTERM, 130 for Ctrl-C."""
    if terminated(exc):
        click.echo("terminated", err=True)
        sys.exit(143)
    click.echo("interrupted", err=True)
    sys.exit(130)


def _traceback() -> None:
    """With --verbose: the traceback of the exception being handled, credentials masked."""
    if STATE.verbose:
        import traceback

        click.echo(mask_text(traceback.format_exc()).rstrip("\n"), err=True)


def main(argv: list[str] | None = None) -> None:
    """Run one command; SIGTERM (ray job stop, Kubernetes, Slurm) is handled like Ctrl-C meanwhile."""
    with sigterm_as_interrupt(), restored():  # a caller in the same process finds its state as it was
        _run_command(argv)


def _run_command(argv: list[str] | None) -> None:
    try:
        cli.main(args=argv, prog_name="mlscale", standalone_mode=False)
    except click.exceptions.Abort as exc:  # click turns a KeyboardInterrupt into Abort
        _interrupted(exc.__cause__)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except MlscaleError as exc:
        _traceback()
        click.secho(f"error: {mask_text(exc.message)}", fg="red", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt as exc:
        _interrupted(exc)
    except Exception as exc:
        _traceback()
        hint = "" if STATE.verbose else " (run with --verbose for the traceback)"
        click.secho(f"error: {mask_text(f'{type(exc).__name__}: {exc}')}{hint}", fg="red", err=True)
        sys.exit(1)
    sys.exit(0)


if __name__ == "__main__":
    main()
