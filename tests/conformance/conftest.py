"""The engines the conformance suite runs over: the test-only toy (tests/toy_engine.py), `local`, and `ray`
on the session's 2-node cluster (one training worker, so that its model is the one `local` trains). A new
engine joins by adding its name to ENGINES and how to reach it to `engine`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from mlscale.engine_names import register_engine, unregister_engine

ENGINES = [
    pytest.param("toy", id="toy"),
    pytest.param("local", id="local"),
    pytest.param("ray", id="ray", marks=pytest.mark.ray),
]


@dataclass(frozen=True)
class EngineUnderTest:
    name: str
    overrides: dict[str, Any] = field(default_factory=dict)  # what a recipe needs to run on it here

    def sets(self) -> list[str]:
        """The overrides as `--set` arguments."""
        return [part for key, value in self.overrides.items() for part in ("--set", f"{key}={value}")]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Iterator[EngineUnderTest]:
    name = request.param
    if name == "toy":
        register_engine("toy", "toy_engine:ToyEngine")
        try:
            yield EngineUnderTest("toy", {"engine.name": "toy"})
        finally:
            unregister_engine("toy")
    elif name == "ray":
        address = request.getfixturevalue("ray_cluster")
        yield EngineUnderTest(
            "ray", {"engine.name": "ray", "engine.workers": 1, "engine.ray.address": address}
        )
    else:
        yield EngineUnderTest("local", {"engine.name": "local"})
