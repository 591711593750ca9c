"""Which engines exist: the built-in ones, those installed packages declare, and those registered in code.

A third engine (Dask, say) plugs in without touching the runner, tracking or the CLI: a package declares
it under the `mlscale.engines` entry-point group (`dask = "mlscale_dask:DaskEngine"`), or code calls
`register_engine("dask", "mlscale_dask:DaskEngine")`. Recipes validate `engine.name` against `known()`.
Kept at the bottom of the layers (no import of the engines themselves), so the recipe layer may use it.
"""

from __future__ import annotations

BUILTIN = {
    "local": "mlscale.engines.local:LocalEngine",
    "ray": "mlscale.engines.ray:RayEngine",
    "dask": "mlscale.engines.dask:DaskEngine",
}
GROUP = "mlscale.engines"
_registered: dict[str, str] = {}


def register_engine(name: str, path: str) -> None:
    """Make `engine.name: <name>` load the class at `path` ("package.module:Class")."""
    if name in BUILTIN:
        raise ValueError(f"engine {name!r} is built in and cannot be replaced")
    if ":" not in path:
        raise ValueError(f"an engine path looks like 'package.module:Class', got {path!r}")
    _registered[name] = path


def unregister_engine(name: str) -> None:
    _registered.pop(name, None)


def known() -> dict[str, str]:
    """Every engine name with the import path of its class: built in, installed, registered."""
    from importlib.metadata import entry_points

    installed = {ep.name: ep.value for ep in entry_points(group=GROUP)}
    return {**installed, **_registered, **BUILTIN}
