"""Start-up version check against the tested matrix, read from package metadata (imports nothing)."""

from __future__ import annotations

import logging
import platform
import re
from importlib.metadata import PackageNotFoundError, version

from mlscale._version import __version__
from mlscale.errors import VersionError
from mlscale.recipe.engine_config import EngineConfig

log = logging.getLogger("mlscale")

# package: (lowest tested, first untested) -- the ranges in pyproject.toml, checked in CI. An engine's own
# packages are declared by its settings section (EngineSettings.packages).
CORE: dict[str, tuple[str, str]] = {
    "xgboost": ("3.0", "4"),
    "mlflow": ("3.17", "3.18"),
    "pandas": ("2.2", "4"),
    "pyarrow": ("16", "27"),
}
TESTED: dict[str, tuple[str, str]] = {
    **CORE,
    **{name: gate for kind in EngineConfig.builtin_settings() for name, gate in kind.packages.items()},
}


def _parse(v: str) -> tuple[int, ...]:
    """The release numbers of a version: "2.51.0rc1" -> (2, 51, 0), "3.0.0.dev0" -> (3, 0, 0)."""
    parts = []
    for piece in v.split("."):
        digits = re.match(r"\d*", piece).group()  # type: ignore[union-attr]
        if not digits:
            break
        parts.append(int(digits))
        if digits != piece:  # a pre/post/dev suffix ends the release part
            break
    return tuple(parts)


def installed(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def known_bad(versions: dict[str, str | None], *, engine: str) -> str | None:
    """One line describing a combination that is known not to work, or None."""
    xgb, mlf = versions.get("xgboost"), versions.get("mlflow")
    if xgb is None:
        return "xgboost is not installed; install mlscale's dependencies (pip install -e .)"
    if _parse(xgb) < (2,):
        low, high = TESTED["xgboost"]
        return f"xgboost {xgb} is too old: mlscale needs xgboost >= 2 (tested {low} to <{high})"
    if mlf is not None and _parse(mlf) < (3,):
        return f"mlflow {mlf} is too old: mlscale needs mlflow 3 (tested {TESTED['mlflow'][0]}.x)"
    if versions.get("xgboost-ray") and _parse(xgb) >= (2, 1):
        return (
            f"xgboost-ray {versions['xgboost-ray']} is installed beside xgboost {xgb}: it is unmaintained and "
            "breaks with xgboost >= 2.1; uninstall it (mlscale uses ray.train.xgboost)"
        )
    gate = EngineConfig.settings_of(engine)
    problem = gate.version_problem(versions)
    if problem:
        return problem
    for name, (low, high) in gate.packages.items():
        found = versions.get(name)
        if found is None:
            return f"engine {engine} needs {name}: {gate.install}"
        if _parse(found) < _parse(low):
            return f"{name} {found} is too old for engine {engine}: mlscale needs {name} >= {low} (tested {low} to <{high})"
    return None


def check_versions(*, engine: str = "local") -> dict[str, str | None]:
    """Raise VersionError on a known-bad combination; warn on untested versions."""
    names = [*TESTED, "xgboost-ray"]
    versions = {name: installed(name) for name in names}
    problem = known_bad(versions, engine=engine)
    if problem:
        raise VersionError(problem)
    for name, (low, high) in TESTED.items():
        v = versions.get(name)
        if v and not (_parse(low) <= _parse(v) < _parse(high)):
            log.warning(
                "%s %s is outside the tested range %s..<%s; it may work, but is untested", name, v, low, high
            )
    return versions


def version_tags(versions: dict[str, str | None]) -> dict[str, str]:
    tags = {f"version.{k}": v or "" for k, v in versions.items() if k != "xgboost-ray"}
    tags["version.python"] = platform.python_version()
    tags["version.mlscale"] = __version__
    return tags
