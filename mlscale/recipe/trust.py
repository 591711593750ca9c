"""Endpoints a recipe names on its own: a recipe is data, it does not decide where credentials go.

A recipe file travels (a repository, a notebook, a colleague's message). When it names a remote Ray
cluster (`engine.ray.address`) or a remote tracking server (`mlflow.tracking_uri`), connecting there would
send the user's Ray token or MLflow credentials to an address the user never chose, and over `ray://` the
Ray Client unpickles the server's replies. Like `kubectl` contexts and pip index URLs, such an endpoint is
used only when the user confirms it: the same key given on the command line (`--address`,
`--set engine.ray.address=...`), in a `--profile` the user passes, `MLFLOW_TRACKING_URI` (which wins over the
recipe anyway), `--trust-recipe`, or `MLSCALE_TRUST_RECIPE=1`. Loopback addresses, `auto` and local stores
(`sqlite:`, files) need no confirmation: nothing leaves the machine.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlparse

from mlscale.errors import RecipeError

ENDPOINTS = {"engine.ray.address": "--address", "mlflow.tracking_uri": "MLFLOW_TRACKING_URI"}
TRUST_ENV = "MLSCALE_TRUST_RECIPE"


def host_of(key: str, value: str) -> str | None:
    """The host an endpoint value connects to, or None when it stays on this machine."""
    if key == "engine.ray.address":
        if value in ("auto", "local"):
            return None
        parsed = urlparse(value if "://" in value else f"ray://{value}")
    else:
        parsed = urlparse(value)
        if parsed.scheme in ("", "file", "sqlite") or not parsed.netloc:
            return None
    try:
        host = parsed.hostname or ""
    except ValueError:
        host = ""
    if host in ("localhost", "::1") or host.startswith("127."):
        return None
    return host or value


def _attr(recipe: Any, dotted: str) -> Any:
    """The value of a dotted key on a validated recipe."""
    for part in dotted.split("."):
        recipe = getattr(recipe, part)
    return recipe


def _get(raw: Mapping[str, Any], dotted: str) -> Any:
    node: Any = raw
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def unconfirmed(
    recipe_raw: Mapping[str, Any], confirmed: Iterable[Mapping[str, Any]], keys: Iterable[str]
) -> tuple[str, ...]:
    """Endpoint keys whose remote value comes from the recipe file alone.

    `confirmed`: the profiles' raw mappings; `keys`: the dotted keys set by overrides (a key set by an
    override of its section, e.g. `engine`, counts too)."""
    overridden = set(keys)
    out = []
    for key in ENDPOINTS:
        value = _get(recipe_raw, key)
        if not isinstance(value, str) or host_of(key, value) is None:
            continue
        parts = key.split(".")
        if any(".".join(parts[:i]) in overridden for i in range(1, len(parts) + 1)):
            continue
        if any(_get(profile, key) is not None for profile in confirmed):
            continue
        out.append(key)
    return tuple(out)


def trusted_by_env() -> bool:
    return os.environ.get(TRUST_ENV, "").lower() in ("1", "true", "yes")


def require_confirmed(recipe: Any, source: str, *, trust: bool) -> None:
    """Refuse (exit 2, before anything connects) a remote endpoint only the recipe file names."""
    if trust or trusted_by_env():
        return
    for key in getattr(recipe, "_unconfirmed", ()):
        if key == "mlflow.tracking_uri" and os.environ.get("MLFLOW_TRACKING_URI"):
            continue  # the environment's URI is the one used
        value = _attr(recipe, key)
        if value is None or host_of(key, value) is None:
            continue
        via = "MLFLOW_TRACKING_URI, " if key == "mlflow.tracking_uri" else ""
        raise RecipeError(
            f"{source}: {key}: only the recipe names this remote endpoint (host {host_of(key, value)}), and "
            f"mlscale sends credentials only where you confirm: give it with {via}--set {key}=..., in a "
            f"--profile, or pass --trust-recipe ({TRUST_ENV}=1)"
        )


def endpoints(recipe: Any) -> list[tuple[str, str, bool]]:
    """(key, value, needs confirmation) for each endpoint the resolved recipe names (for validate and plan)."""
    out = []
    pending = set(getattr(recipe, "_unconfirmed", ()))
    for key in ENDPOINTS:
        value = _attr(recipe, key)
        if isinstance(value, str):
            out.append((key, value, key in pending and not trusted_by_env()))
    return out


def describe_reach(recipe: Any) -> list[str]:
    """What a run of this recipe would connect to and which user code it would import, in words
    (`mlscale validate` and `mlscale plan` print these without connecting)."""
    lines = []
    for key, value, pending in endpoints(recipe):
        if key == "mlflow.tracking_uri" and os.environ.get("MLFLOW_TRACKING_URI"):
            lines.append(f"{key}: {value} (not used: MLFLOW_TRACKING_URI is set)")
            continue
        where = "this machine" if host_of(key, value) is None else f"host {host_of(key, value)}"
        note = "; named by the recipe only: refused unless confirmed (--trust-recipe)" if pending else ""
        lines.append(f"{key}: {value} ({where}{note})")
    if recipe.data.preprocess:
        lines.append(
            f"data.preprocess: imports and calls {recipe.data.preprocess} with your rights before training"
        )
    return lines
