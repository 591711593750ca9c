"""Property corpus of the trust rule (hypothesis, fixed seed): generated URIs, Ray addresses and output paths
(authority tricks, unicode, `..`, symlinks) against the rule and the parsers that connect.

- A URI is refused (one line, exit 2) or the host mlscale decided on is the host the connecting parser reads:
  urllib3's (requests, so MLflow's client) for http(s), Ray's own for a cluster address; "this machine" only
  for `localhost` and loopback IP addresses.
- A value only the recipe names is refused unless confirmed exactly when it leaves the machine; confirmed
  (--set, a profile, --trust-recipe) it never is.
- An output path needs confirmation exactly when, symlinks followed, it leaves the working directory
  (checked against os.path.realpath and os.path.commonpath, not the code under test).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import cluster_addresses, relative_paths, uris
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from mlscale import RecipeError
from mlscale.recipe.endpoint import parse_cluster_address, parse_uri, this_machine
from mlscale.recipe.load import validate
from mlscale.recipe.trust import TRUST_ENV, reach, require_confirmed, unconfirmed

SETTINGS = {
    "deadline": None,
    "derandomize": True,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}


@pytest.fixture(autouse=True)
def _no_confirmation_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TRUST_ENV, raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@settings(max_examples=600, **SETTINGS)
@given(uris())
def test_a_uri_is_refused_or_read_alike_by_the_client_that_connects(uri: str) -> None:
    raw = {"name": "t", "data": {"source": "sklearn", "dataset": "iris"}, "mlflow": {"tracking_uri": uri}}
    try:
        endpoint = parse_uri(uri)
    except ValueError:
        with pytest.raises(RecipeError) as info:
            validate(raw, source="r.yaml")
        assert info.value.exit_code == 2
        assert str(info.value).startswith("r.yaml: mlflow.tracking_uri: the URI ")
        assert "\n" not in str(info.value)
        return
    recipe = validate(raw, source="r.yaml")  # what parses also validates
    if endpoint.scheme in ("http", "https"):
        try:
            connects_to = (parse_url(uri).host or "").strip("[]").lower()
        except LocationParseError:
            return  # requests refuses it too: nothing connects
        if endpoint.host is not None and endpoint.host.isascii():
            assert connects_to == unquote(endpoint.host).lower(), (
                uri,
                connects_to,
                endpoint.host,
            )  # %25: zone
        if endpoint.local:
            assert this_machine(connects_to), (uri, connects_to)
    # named by the recipe alone: refused exactly when it leaves the machine, and never once confirmed
    pending = unconfirmed(raw, [], [])
    assert ("mlflow.tracking_uri" in pending) == (not endpoint.local)
    recipe._unconfirmed = pending
    if endpoint.local:
        require_confirmed(recipe, "r.yaml", trust=False)
    else:
        with pytest.raises(RecipeError, match=r"^r\.yaml: mlflow\.tracking_uri: only the recipe names"):
            require_confirmed(recipe, "r.yaml", trust=False)
    require_confirmed(recipe, "r.yaml", trust=True)
    assert unconfirmed(raw, [], ["mlflow.tracking_uri"]) == ()
    assert unconfirmed(raw, [{"mlflow": {"tracking_uri": uri}}], []) == ()


@settings(max_examples=400, **SETTINGS)
@given(cluster_addresses())
def test_a_ray_address_is_refused_or_read_alike_by_ray(address: str) -> None:
    from ray._raylet import parse_address  # Ray's own parser of a GCS host:port (no cluster is started)

    try:
        endpoint = parse_cluster_address(address)
    except ValueError:
        raw = {
            "name": "t",
            "data": {"source": "sklearn", "dataset": "iris"},
            "engine": {"ray": {"address": address}},
        }
        with pytest.raises(RecipeError, match=r"^r\.yaml: engine\.ray\.address: the address "):
            validate(raw, source="r.yaml")
        return
    if endpoint.host is None:
        assert address in ("auto", "local") and endpoint.local
        return
    given_to_ray = endpoint.address.removeprefix("ray://")  # Ray Client hands the rest to gRPC as host:port
    for text in {given_to_ray, address.removeprefix("ray://")}:
        parsed = parse_address(text)
        assert parsed is not None, text
        assert parsed[0].strip("[]").lower() == endpoint.host.lower(), (address, parsed)
        assert endpoint.local == this_machine(parsed[0].strip("[]")), (address, parsed)
    assert reach("cluster", address).local == endpoint.local


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory holding `link`, a symlink to a directory outside it, and `out`, a real one."""
    root = tmp_path_factory.mktemp("trust-paths")
    (root / "elsewhere").mkdir()
    work = root / "work"
    (work / "out").mkdir(parents=True)
    (work / "link").symlink_to(root / "elsewhere", target_is_directory=True)
    return work


@settings(max_examples=300, **SETTINGS)
@given(path=relative_paths())
def test_an_output_path_needs_confirmation_exactly_when_it_leaves_the_working_directory(
    path: str, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workspace)
    real = os.path.realpath(os.path.join(workspace, path))
    inside = os.path.commonpath([real, os.path.realpath(workspace)]) == os.path.realpath(workspace)
    assert reach("output", path).local == inside, (path, real)
    raw = {"name": "t", "data": {"source": "sklearn", "dataset": "iris"}, "predict": {"output": path}}
    assert (unconfirmed(raw, [], []) == ("predict.output",)) == (not inside)
    assert unconfirmed(raw, [], ["predict.output"]) == ()  # --output / --set
    assert unconfirmed(raw, [{"predict": {"output": path}}], []) == ()  # a profile


@settings(max_examples=100, **SETTINGS)
@given(hook=st.sampled_from(["subprocess:run", "os:system", "my_pkg.prep:clean", "builtins:eval"]))
def test_a_hook_named_by_the_recipe_alone_always_needs_confirmation(hook: str) -> None:
    raw = {"name": "t", "data": {"source": "sklearn", "dataset": "iris", "preprocess": hook}}
    assert unconfirmed(raw, [], []) == ("data.preprocess",)
    assert unconfirmed(raw, [], ["data.preprocess"]) == unconfirmed(raw, [], ["data"]) == ()
