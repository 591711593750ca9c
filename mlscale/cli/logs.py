"""Logging for the CLI: levels from -v/-q, credentials masked in every line, third-party chatter off."""

from __future__ import annotations

import logging
import os
import sys

from mlscale.recipe.engine_config import EngineConfig
from mlscale.util.masking import mask_text


class _State:
    """The verbosity the running command was given (tracebacks are shown only with --verbose)."""

    verbose = False
    quiet = False


STATE = _State()


def setup_logging(verbose: bool, quiet: bool) -> None:
    """mlscale's log lines on stderr at the level -v/-q ask for; third-party logs off unless -v.
    `mlscale.cli.main` restores what this changes when the command ends."""
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
        # Third-party chatter (the engines' libraries, MLflow, alembic) stays out of the terminal unless asked for.
        engines = EngineConfig.builtin_settings()
        for kind in engines:
            for key, value in kind.quiet_environment.items():
                os.environ.setdefault(key, value)
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
        for name in (
            "mlflow",
            "alembic",
            "optuna",
            "urllib3",
            "py.warnings",
            *(n for k in engines for n in k.loggers),
        ):
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
