"""One masking function for every text that leaves the process: CLI lines, logs, `mlscale validate`,
MLflow params/tags/artifacts, KubeRay manifests. Passwords, tokens and signed-URL signatures never show."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from mlscale.util.masking import (
    credentials_problem,
    mask_secrets,
    mask_text,
    mask_uri,
    strip_credentials,
    strip_uri,
)

SECRET = "s3cr3t"

MASKED = {
    "https://user:s3cr3t@host/x": "https://user:***@host/x",
    "http://alice:s3cr3t@127.0.0.1:5000": "http://alice:***@127.0.0.1:5000",
    "https://s3cr3t@github.com/org/repo.git": "https://***@github.com/org/repo.git",  # a token as the user
    "https://:s3cr3t@host": "https://:***@host",
    "https://u:p@s3cr3t@host/x": "https://u:***@host/x",  # '@' inside the password
    "https://u:s3cr3t@host?x=1": "https://u:***@host?x=1",
    "postgresql://mlflow:s3cr3t@db:5432/mlflow": "postgresql://mlflow:***@db:5432/mlflow",
    "https://host/x?token=s3cr3t": "https://host/x?token=***",
    "https://host/x?a=1&access_token=s3cr3t&b=2": "https://host/x?a=1&access_token=***&b=2",
    "https://host/x?password=s3cr3t#top": "https://host/x?password=***#top",
    "https://host/x?sig=s3cr3t&sv=2022-11-02": "https://host/x?sig=***&sv=2022-11-02",  # Azure SAS
    "https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA/s3cr3t&X-Amz-Signature=s3cr3t&X-Amz-Security-Token=s3cr3t":
        "https://b.s3.amazonaws.com/k?X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Security-Token=***",
    "https://host/x?api_key=s3cr3t": "https://host/x?api_key=***",
    "https://host/x?client_secret=s3cr3t": "https://host/x?client_secret=***",
    "https://host/x?key=s3cr3t": "https://host/x?key=***",
    "got 'https://host/x?token=s3cr3t.v2'": "got 'https://host/x?token=***'",
    "error: cannot reach https://a:s3cr3t@h:5000 (refused), see https://h/x?token=s3cr3t.":
        "error: cannot reach https://a:***@h:5000 (refused), see https://h/x?token=***.",
}  # fmt: skip

KEPT = [
    "sqlite:////tmp/a@b/mlflow.db",
    "https://host/p?email=a@b.com",
    "s3://bucket/key@v1/x.parquet",
    "https://host/x?version=1&monkey=2",
    "http://127.0.0.1:5000",
    "mlscale @ https://example.com/mlscale-0.1.0-py3-none-any.whl",
    "train.eta must be a number, got 'fast'",
]


@pytest.mark.parametrize("text", list(MASKED))
def test_mask_text(text: str) -> None:
    assert mask_text(text) == MASKED[text]
    assert SECRET not in mask_text(text)
    assert mask_text(mask_text(text)) == mask_text(text)


@pytest.mark.parametrize("text", KEPT)
def test_mask_text_keeps_what_holds_no_secret(text: str) -> None:
    assert mask_text(text) == text


def test_mask_secrets_masks_keys_and_values() -> None:
    value = {
        "params": {"api_token": "abc", "eta": 0.1},
        "uri": "https://h/x?sig=s3cr3t",
        "l": ["https://:s3cr3t@h"],
    }
    assert mask_secrets(value) == {
        "params": {"api_token": "***", "eta": 0.1},
        "uri": "https://h/x?sig=***",
        "l": ["https://:***@h"],
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://u:p@s3cr3t@host/x", "https://host/x"),
        ("https://s3cr3t@github.com/r.git", "https://github.com/r.git"),
        ("https://host/x?token=s3cr3t&v=1", "https://host/x?v=1"),
        ("https://host/x?v=1&sig=s3cr3t", "https://host/x?v=1"),
        ("https://host/x?sig=s3cr3t", "https://host/x"),
    ],
)
def test_strip_credentials_removes_them_all(text: str, expected: str) -> None:
    assert strip_credentials({"a": [text]}) == ({"a": [expected]}, 1)


# --- a corpus of credentialed URIs: every secret is masked however it is written and wherever it is -----

# URI -> mask_uri(URI). Each secret holds SECRET; '/', '?', '#', '@' and '%' in a password, tokens as the
# user, as the password of an empty user (':token@'), in the query and in the fragment.
CORPUS = {
    "http://alice:s3cr3t@127.0.0.1:5000": "http://alice:***@127.0.0.1:5000",
    "http://alice:hunter/2s3cr3t@127.0.0.1:5000": "http://alice:***@127.0.0.1:5000",
    "http://alice:a/b/s3cr3t@127.0.0.1:5000/x": "http://alice:***@127.0.0.1:5000/x",
    "http://alice:pa#s3cr3t@h:5000/x": "http://alice:***@h:5000/x",
    "http://alice:pa?s3cr3t@h/x?v=1": "http://alice:***@h/x?v=1",
    "http://alice:p@s3cr3t@h": "http://alice:***@h",
    "http://alice:p@ss/s3cr3t@h": "http://alice:***@h",
    "http://alice:p%2F%40%23s3cr3t%25@h": "http://alice:***@h",
    "http://:s3cr3t@127.0.0.1:5000": "http://:***@127.0.0.1:5000",
    "https://s3cr3t@github.com/org/repo.git": "https://***@github.com/org/repo.git",
    "https://ghp_s3cr3t@github.com/org/repo@v1.0": "https://***@github.com/org/repo@v1.0",
    "https://h/x?token=s3cr3t": "https://h/x?token=***",
    "https://h/x?v=1&access_token=s3cr3t;sig=s3cr3t": "https://h/x?v=1&access_token=***;sig=***",
    "https://h/x?X-Amz-Signature=s3cr3t#access_token=s3cr3t": "https://h/x?X-Amz-Signature=***#access_token=***",
    "https://alice:s3cr3t@h/x?api_key=s3cr3t": "https://alice:***@h/x?api_key=***",
    "HTTP://Alice:s3cr3t@H": "HTTP://Alice:***@H",
    "http://alice:s3cr3t@[::1]:5000": "http://alice:***@[::1]:5000",
    "http://alice:s3cr3t@[::1": "http://alice:***@[::1",
}
# How a URI shows up in a line: quoted, in brackets, ending a sentence, in JSON, in a repr, two in a row.
CONTEXTS = [
    "{}",
    "got '{}'",
    'got "{}"',
    "({})",
    "see {}.",
    "[{}], next",
    "{{'uri': '{}', 'n': 1}}",
    '{{"a":"http://host/p","uri":"{}"}}',
    "{},{}",
    "uri={}\n",
    "error: {}: refused",
]


@pytest.mark.parametrize("uri", list(CORPUS))
def test_mask_uri_over_the_corpus(uri: str) -> None:
    assert mask_uri(uri) == CORPUS[uri]
    assert mask_uri(CORPUS[uri]) == CORPUS[uri]  # idempotent
    assert SECRET not in strip_uri(uri)


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize("uri", list(CORPUS))
def test_mask_text_over_the_corpus_in_every_context(uri: str, context: str) -> None:
    text = context.format(uri, uri)
    masked = mask_text(text)
    assert SECRET not in masked
    assert mask_text(masked) == masked
    assert CORPUS[uri] in masked or context in ("{},{}",)
    assert SECRET not in strip_credentials(text)[0]


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("http://alice:hunter/2@127.0.0.1:5000", True),
        ("http://alice:pa#ss@h", True),
        ("http://alice:pa?ss@h", True),
        ("http://alice:p%2F@h", False),
        ("http://alice:p@ss@h", False),
        ("http://127.0.0.1:5000/x?email=a@b.com", False),
        ("http://127.0.0.1:5000", False),
    ],
)
def test_credentials_problem_names_unencoded_delimiters(uri: str, problem: bool) -> None:
    assert (credentials_problem(uri) is not None) == problem


# --- the CLI: error lines, --verbose tracebacks, `mlscale validate`, logs ------------------------------


def _main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from conftest import cli_in_process

    return cli_in_process(args, capsys)


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text("name: t\ndata: {source: sklearn, dataset: iris}\n")
    return path


@pytest.mark.parametrize("verbose", [[], ["--verbose"]])
def test_cli_error_lines_are_masked(
    recipe: Path, verbose: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _main(["validate", str(recipe), "--set", "name=https://u:s3cr3t@h", *verbose], capsys)
    assert code == 2 and out == ""
    assert SECRET not in err
    assert err.splitlines()[-1] == (
        f"error: {recipe}: name must be letters, digits, '_', '.' or '-' (starting with a letter or digit), "
        "got 'https://u:***@h'"
    )


@pytest.mark.parametrize("verbose", [False, True])
def test_unexpected_errors_are_masked(
    recipe: Path, verbose: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import mlscale.recipe

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("cannot open https://h/x?token=s3cr3t")

    monkeypatch.setattr(mlscale.recipe, "load_recipe", boom)
    code, _, err = _main(["validate", str(recipe), *(["--verbose"] if verbose else [])], capsys)
    assert code == 1 and SECRET not in err
    assert err.splitlines()[-1].startswith("error: RuntimeError: cannot open https://h/x?token=***")
    assert ("Traceback" in err) == verbose


def test_validate_prints_secrets_masked(recipe: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _main(
        ["validate", str(recipe), "--set", "mlflow.tracking_uri=http://alice:s3cr3t@127.0.0.1:5000",
         "--set", "train.params.api_token=s3cr3t", "--set", "description=https://h/x?sig=s3cr3t"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert SECRET not in out
    assert "tracking_uri: http://alice:***@127.0.0.1:5000" in out and "api_token: '***'" in out


@pytest.mark.parametrize(
    "uri", ["http://alice:s3cr3t/2@h:5000", "http://alice:s3cr3t#x@h", "http://alice:s3cr3t?x@h:5000/p"]
)
def test_a_password_with_unencoded_delimiters_is_refused_unshown(
    recipe: Path, uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every URI parser ends the host part at the '/': the password's first part would be shown as the port."""
    code, out, err = _main(["validate", str(recipe), "--set", f"mlflow.tracking_uri={uri}"], capsys)
    assert (code, out) == (2, "")
    assert err == (
        f"error: {recipe}: mlflow.tracking_uri: the URI is not valid (its user info holds '/', '?' or '#', "
        "which end the host part: percent-encode them (%2F, %3F, %23))\n"
    )


def test_log_lines_are_masked(capsys: pytest.CaptureFixture[str]) -> None:
    from mlscale.cli.logs import setup_logging as _setup_logging
    from mlscale.util.scoped import restored

    with restored():  # the environment and the loggers as they were
        _setup_logging(verbose=False, quiet=False)
        logging.getLogger("mlscale").warning("reading https://u:%s@h/x", SECRET)
    err = capsys.readouterr().err
    assert SECRET not in err and "https://u:***@h/x" in err


def test_mlflow_lines_go_to_the_debug_log_masked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What MLflow prints by itself (its `eprint`: "Created version '1' of model 'm'.", a URL) reaches
    neither stdout nor stderr, but mlscale's debug log, masked; MLflow's switches are put back."""
    from logging.handlers import BufferingHandler

    from mlflow.utils.logging_utils import eprint

    from mlscale.tracking.mlflow_lines import mlflow_lines
    from mlscale.util.scoped import restored

    monkeypatch.setenv("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "false")
    monkeypatch.delenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", raising=False)
    logged = BufferingHandler(100)
    with restored():
        logger = logging.getLogger("mlscale")
        logger.handlers[:], logger.propagate = [logged], False
        logger.setLevel(logging.DEBUG)
        with mlflow_lines():
            assert os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] == "true"
            eprint("Created version '1' of model 'm'.")
            print(f"View run r at: http://alice:{SECRET}@127.0.0.1:5000/#/experiments/1")
    assert capsys.readouterr() == ("", "")
    assert [(r.levelno, r.getMessage()) for r in logged.buffer] == [
        (logging.DEBUG, "Created version '1' of model 'm'."),
        (logging.DEBUG, "View run r at: http://alice:***@127.0.0.1:5000/#/experiments/1"),
    ]
    assert os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] == "false"
    assert "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR" not in os.environ


def test_errors_and_recipes_as_python_prints_them_hold_no_credentials(recipe: Path) -> None:
    """An exception the library raises, and a recipe shown in a notebook, never show a password; the
    recipe still holds it, to connect with."""
    import pickle

    import mlscale
    from mlscale.errors import TrackingError

    error = TrackingError(f"mlflow: cannot reach http://alice:hunter/2{SECRET}@h:5000")
    assert SECRET not in str(error) + repr(error) + str(pickle.loads(pickle.dumps(error)))
    uri = f"http://alice:{SECRET}@127.0.0.1:5000"
    loaded = mlscale.load_recipe(
        recipe, overrides={"mlflow.tracking_uri": uri, "train.params": {"api_token": SECRET}}
    )
    assert SECRET not in repr(loaded) + str(loaded) + repr(loaded.mlflow)
    assert "tracking_uri='http://alice:***@127.0.0.1:5000'" in repr(loaded.mlflow)
    assert loaded.mlflow.tracking_uri == uri and loaded.train.params == {"api_token": SECRET}
