"""A tracking server behind basic auth, its credentials in the URI: the reachability probe sends them
as an Authorization header (not in the host part), and no error ever prints the password."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest
from conftest import serving

from mlscale.errors import TrackingError
from mlscale.tracking.runs import check_reachable

GOOD = "Basic " + base64.b64encode(b"alice:s3cr3t@x").decode()


class _Health(BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None, str | None]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Host"), self.headers.get("Authorization")))
        ok = self.headers.get("Authorization") == GOOD
        self.send_response(200 if ok else 401)
        self.end_headers()
        self.wfile.write(b"OK" if ok else b"")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    _Health.seen = []
    with serving(_Health) as port:
        yield port


def test_credentials_in_the_uri_go_as_basic_auth(server: int) -> None:
    check_reachable(f"http://alice:s3cr3t%40x@127.0.0.1:{server}/")  # %40: an '@' in the password
    assert _Health.seen == [("/health", f"127.0.0.1:{server}", GOOD)]


def test_a_password_with_a_raw_at_sign_is_refused(server: int) -> None:
    """Two '@': clients disagree on where the host starts; the URI is refused, nothing is sent."""
    with pytest.raises(TrackingError) as info:
        check_reachable(f"http://alice:s3cr3t@x@127.0.0.1:{server}")
    assert "more than one '@' in its host part; percent-encode the user info" in str(info.value)
    assert "s3cr3t" not in str(info.value)
    assert _Health.seen == []


def test_without_credentials_no_header_is_sent(server: int) -> None:
    check_reachable(f"http://127.0.0.1:{server}")  # 401 means the server is up: the run says more later
    assert _Health.seen == [("/health", f"127.0.0.1:{server}", None)]


@pytest.mark.parametrize(
    "uri",
    [
        "https://alice:s3cr3t@mlflow.example.com:port/",
        "http://alice:s3cr3t@[::1/",
        "http://alice:s3cr3t@host:99999",
    ],
)
def test_an_invalid_uri_never_prints_the_password(uri: str) -> None:
    with pytest.raises(TrackingError) as info:
        check_reachable(uri)
    message = str(info.value)
    assert "s3cr3t" not in message and len(message.splitlines()) == 1
    assert message.startswith("mlflow: tracking URI ") and "alice:***@" in message
    assert "is not a valid URL" in message


def test_a_server_that_does_not_answer_is_named_without_the_password() -> None:
    from conftest import free_port

    with pytest.raises(TrackingError) as info:
        check_reachable(f"http://alice:s3cr3t@127.0.0.1:{free_port()}", timeout=2)
    assert "s3cr3t" not in str(info.value) and "does not answer (" in str(info.value)
    assert "alice:***@127.0.0.1" in str(info.value)


# --- mlscale submit: a tracking URI with credentials is not sent to the cluster ---------------------------

SUBMIT_REFUSAL = (
    "submit: {where} {uri} holds credentials, which the job would carry to the cluster (its runtime env "
    "shows in `ray job list`); use the URI without them and set MLFLOW_TRACKING_USERNAME / "
    "MLFLOW_TRACKING_PASSWORD on the cluster"
)


@pytest.mark.parametrize("from_env", [True, False])
def test_submit_refuses_a_tracking_uri_with_credentials(
    from_env: bool, tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    import mlscale.deploy.ray_jobs
    from mlscale.cli import main

    def never(**kwargs: object) -> None:
        raise AssertionError("nothing may be submitted")

    monkeypatch.setattr(mlscale.deploy.ray_jobs, "submit_job", never)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: t\ndata: {source: sklearn, dataset: iris}\n")
    uri = "https://alice:s3cr3t@mlflow.example.com"
    args = ["submit", str(recipe), "--address", "http://127.0.0.1:8265"]
    if from_env:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    else:
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
        args += ["--set", f"mlflow.tracking_uri={uri}"]
    environ = dict(os.environ)
    try:
        with pytest.raises(SystemExit) as exited:
            main(args)
    finally:
        os.environ.clear()
        os.environ.update(environ)
    out, err = capsys.readouterr()
    where = "MLFLOW_TRACKING_URI" if from_env else "mlflow.tracking_uri"
    message = SUBMIT_REFUSAL.format(where=where, uri="https://alice:***@mlflow.example.com")
    assert (exited.value.code, out, err) == (2, "", f"error: {message}\n")
