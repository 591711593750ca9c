"""A tracking server behind basic auth, its credentials in the URI: the reachability probe sends them
as an Authorization header (not in the host part), and no error ever prints the password."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from mlscale.errors import TrackingError
from mlscale.tracking import check_reachable

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
    httpd = HTTPServer(("127.0.0.1", 0), _Health)
    _Health.seen = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield int(httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()


def test_credentials_in_the_uri_go_as_basic_auth(server: int) -> None:
    check_reachable(f"http://alice:s3cr3t%40x@127.0.0.1:{server}/")  # %40: an '@' in the password
    assert _Health.seen == [("/health", f"127.0.0.1:{server}", GOOD)]


def test_a_password_with_a_raw_at_sign_works_too(server: int) -> None:
    check_reachable(f"http://alice:s3cr3t@x@127.0.0.1:{server}")
    assert _Health.seen == [("/health", f"127.0.0.1:{server}", GOOD)]


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
