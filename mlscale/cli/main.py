"""`mlscale`'s entry point: one error line on stderr, exit 2 for bad input, 1 for the environment,
130 on Ctrl-C, 143 on SIGTERM; the traceback only with --verbose."""

from __future__ import annotations

import sys

import click

from mlscale.cli.commands import cli
from mlscale.cli.logs import STATE
from mlscale.errors import MlscaleError
from mlscale.util.interrupts import sigterm_as_interrupt, terminated
from mlscale.util.masking import mask_text
from mlscale.util.scoped import restored


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
