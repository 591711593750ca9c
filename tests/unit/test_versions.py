"""The start-up version check: known-bad combinations stop with one line, untested ones warn."""

from __future__ import annotations

import logging

import pytest

from mlscale.errors import VersionError
from mlscale.workflow import versions

GOOD = {"xgboost": "3.2.0", "ray": "2.60.0", "mlflow": "3.17.2", "pandas": "3.1.1", "pyarrow": "25.0.1"}


@pytest.mark.parametrize(
    ("changed", "engine", "expected"),
    [
        (
            {"xgboost": None},
            "local",
            "xgboost is not installed; install mlscale's dependencies (pip install -e .)",
        ),
        (
            {"xgboost": "1.7.6"},
            "local",
            "xgboost 1.7.6 is too old: mlscale needs xgboost >= 2 (tested 3.0 to <4)",
        ),
        ({"mlflow": "2.22.0"}, "local", "mlflow 2.22.0 is too old: mlscale needs mlflow 3 (tested 3.17.x)"),
        (
            {"xgboost-ray": "0.1.19"},
            "local",
            "xgboost-ray 0.1.19 is installed beside xgboost 3.2.0: it is unmaintained and breaks with "
            "xgboost >= 2.1; uninstall it (mlscale uses ray.train.xgboost)",
        ),
        ({"ray": None}, "ray", "engine ray needs ray: pip install 'ray[tune,data,train]'"),
        (
            {"ray": "2.50.1"},
            "ray",
            "ray 2.50.1 is too old for engine ray: mlscale needs ray >= 2.51 (tested 2.51 to <2.61)",
        ),
    ],
    ids=["no-xgboost", "old-xgboost", "mlflow-2", "xgboost-ray", "no-ray", "old-ray"],
)
def test_known_bad_combinations(changed, engine, expected):
    assert versions.known_bad({**GOOD, **changed}, engine=engine) == expected


def test_good_and_engine_specific_combinations_pass():
    assert versions.known_bad(GOOD, engine="ray") is None
    assert versions.known_bad({**GOOD, "ray": None}, engine="local") is None  # local never needs ray
    assert versions.known_bad({**GOOD, "ray": "2.40.0"}, engine="local") is None
    assert versions.known_bad({**GOOD, "xgboost": "2.0.3", "xgboost-ray": "0.1.19"}, engine="local") is None


def test_check_versions_raises_one_line_on_a_known_bad_install(monkeypatch):
    monkeypatch.setattr(versions, "installed", lambda name: {**GOOD, "mlflow": "2.9.0"}.get(name))
    with pytest.raises(VersionError) as info:
        versions.check_versions(engine="local")
    assert str(info.value) == "mlflow 2.9.0 is too old: mlscale needs mlflow 3 (tested 3.17.x)"
    assert info.value.exit_code == 1


def test_check_versions_warns_outside_the_tested_range(monkeypatch, caplog):
    monkeypatch.setattr(versions, "installed", lambda name: {**GOOD, "pandas": "4.0.0"}.get(name))
    with caplog.at_level(logging.WARNING, logger="mlscale"):
        found = versions.check_versions(engine="ray")
    assert found["pandas"] == "4.0.0"
    assert [r.getMessage() for r in caplog.records] == [
        "pandas 4.0.0 is outside the tested range 2.2..<4; it may work, but is untested"
    ]


def test_the_installed_environment_is_inside_the_tested_ranges(caplog):
    with caplog.at_level(logging.WARNING, logger="mlscale"):
        found = versions.check_versions(engine="ray")
    assert caplog.records == [] and all(found[name] for name in versions.TESTED)


@pytest.mark.parametrize(
    ("text", "parsed"), [("3.2.0", (3, 2, 0)), ("2.51.0rc1", (2, 51, 0)), ("3.0.0.dev0", (3, 0, 0))]
)
def test_version_parsing(text, parsed):
    assert versions._parse(text) == parsed
