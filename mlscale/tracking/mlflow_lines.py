"""What MLflow prints by itself reaches the terminal only through mlscale's log, masked, in every mode.

MLflow writes "🏃 View run NAME at: <tracking URI>/#/..." and "🧪 View experiment at: ..." on stdout
whenever a run ends (`MlflowClient.set_terminated`, `mlflow.end_run`), with the tracking URI as given,
password included; and "Successfully registered model 'm'." / "Created version '1' of model 'm'." (its
`eprint`), its log records and its progress bars on stderr, as `sys.stderr` is at the time.

Around the calls that print (a run or a trial ending, logging and registering the model), `mlflow_lines()`
turns the URL lines off (MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT, which also spares MLflow the request it
makes to print them; mlscale shows the run's page itself, masked) and the progress bars of artifact
downloads, and hands everything else printed to the "mlscale" logger at debug level, masked: shown with -v
only, never interleaved with mlscale's own lines.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Iterator

from mlscale.util.masking import mask_text

log = logging.getLogger("mlscale")

QUIET = {"MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


@contextlib.contextmanager
def mlflow_lines() -> Iterator[None]:
    """MLflow's URL lines and progress bars off, and what it prints on stdout or stderr logged at debug
    level, masked. Usable as a decorator; the environment variables are put back as they were."""
    previous = {name: os.environ.get(name) for name in QUIET}
    os.environ.update(QUIET)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        for line in printed.getvalue().splitlines():
            shown = line.rsplit("\r", 1)[-1].strip()  # a line rewritten in place: its last state
            if shown:
                log.debug("%s", mask_text(shown))
