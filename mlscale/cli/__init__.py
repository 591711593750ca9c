"""The `mlscale` command: `commands` (one function per command), `options` (shared options),
`display` (rich rendering), `logs` (-v/-q), `main` (errors and exit codes)."""

from __future__ import annotations

from mlscale.cli.commands import cli
from mlscale.cli.main import main

__all__ = ["cli", "main"]
