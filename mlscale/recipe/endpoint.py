"""Where a value a recipe names leads: one parse (the standard library's) for the trust decision and the
connection alike.

HTTP clients and `urllib.parse` disagree on some URIs: in `http://evil:8001\\@127.0.0.1:5000`, urllib
reads host 127.0.0.1 while requests (MLflow's client) connects to `evil`. Refused, so that the host decided
on is the host connected to: an authority holding `\\`, whitespace, more than one `@`, or brackets around
anything but a whole IPv6 host; a character that is not printable anywhere (urllib drops tabs and newlines
before parsing); an http(s) URI without `//host`. A Ray address is `auto`, `local`, `host:port` or
`ray://host:port`, nothing more: Ray reads `a@b:1` as host `a@b`. "This machine" is `localhost` or a
loopback IP address (`ipaddress.ip_address(host).is_loopback`), never a name that merely starts with `127.`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import SplitResult, urlsplit

from mlscale.errors import RecipeError
from mlscale.util.masking import credentials_problem

EndpointKind = Literal["cluster", "uri", "hook", "output"]
"""cluster: a Ray-style cluster address; uri: a URI or a local path (tracking store, checkpoint storage);
hook: user code by import path; output: a local path the run writes."""

_BRACKETED = re.compile(r"\[[^\[\]]+\](:[0-9]*)?")  # urllib takes evil[::1]:80 for host ::1
LOCAL_SCHEMES = ("", "file", "sqlite")  # a path, or a store on this machine's disk
HTTP_SCHEMES = ("http", "https")


@dataclass(frozen=True)
class Guard:
    """How a recipe key is guarded: its kind, and an environment variable that replaces it, if any."""

    kind: EndpointKind
    env: str | None = None  # an environment variable whose value is used instead (MLFLOW_TRACKING_URI)


@dataclass(frozen=True)
class Endpoint:
    """A parsed URI or cluster address. `host` is None for a local store or path and for `auto`."""

    value: str
    scheme: str
    host: str | None
    port: int | None
    parts: SplitResult  # the value as urllib split it

    @property
    def local(self) -> bool:
        """Whether connecting stays on this machine."""
        if self.host is None:
            return self.scheme in LOCAL_SCHEMES
        return this_machine(self.host)

    @property
    def place(self) -> str:
        """Where it leads, in words: `this machine`, `host h` (http, ray) or `s3://bucket` (other schemes)."""
        if self.local:
            return "this machine"
        if self.scheme in (*HTTP_SCHEMES, "ray"):
            return f"host {self.host}"
        return f"{self.scheme}://{self.host or ''}"

    @property
    def address(self) -> str:
        """A cluster address rebuilt from the parsed host and port: what Ray is given to connect to."""
        if self.host is None:
            return self.value
        host = f"[{self.host}]" if ":" in self.host else self.host
        netloc = f"{host}:{self.port}"
        return f"ray://{netloc}" if self.value.startswith("ray://") else netloc


def this_machine(host: str) -> bool:
    """`localhost` or a loopback IP address (127.0.0.0/8, ::1); any other name may resolve anywhere."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _split(value: str, what: str) -> SplitResult:
    """urllib's split of `value`, refusing what other parsers read another way (`what`: "the URI")."""
    bad = next((c for c in value if not c.isprintable()), None)
    if bad is not None:
        raise ValueError(f"{what} holds the unprintable character {bad!a}")
    problem = credentials_problem(value)  # before urllib, which would quote a part of the password as a port
    if problem:
        raise ValueError(f"{what} is not valid ({problem})")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  # raises ValueError for a port that is not a number or out of range
    except ValueError as exc:
        raise ValueError(f"{what} is not valid ({exc})") from None
    authority = parts.netloc
    if "\\" in authority:
        raise ValueError(
            f"{what} holds '\\' before its path, where HTTP clients and urllib disagree on the host; remove it"
        )
    if any(c.isspace() for c in authority):
        raise ValueError(f"{what} holds whitespace in its host part; remove it")
    if authority.count("@") > 1:
        raise ValueError(f"{what} holds more than one '@' in its host part; percent-encode the user info")
    host_port = authority.rpartition("@")[2]
    if ("[" in host_port or "]" in host_port) and not _BRACKETED.fullmatch(host_port):
        raise ValueError(f"{what} holds '[' or ']' around something other than a whole IPv6 host")
    return parts


def parse_uri(value: str) -> Endpoint:
    """A tracking URI, storage URI or local path; ValueError ("the URI ...", without the value, which may
    hold a password) for one the parsers could read two ways."""
    parts = _split(value, "the URI")
    if parts.scheme in HTTP_SCHEMES and not parts.hostname:
        raise ValueError(f"the URI has no host: expected {parts.scheme}://host[:port]/path")
    host = None if parts.scheme in LOCAL_SCHEMES else (parts.hostname or "")
    return Endpoint(value=value, scheme=parts.scheme, host=host or None, port=parts.port, parts=parts)


def checked_uri(value: str, where: str) -> Endpoint:
    """parse_uri, with its refusal as a one-line RecipeError naming `where` (a key, a variable, an option)."""
    try:
        return parse_uri(value)
    except ValueError as exc:
        raise RecipeError(f"{where}: {exc}") from None


def parse_cluster_address(value: str) -> Endpoint:
    """`auto`, `local`, `host:port` or `ray://host:port`; ValueError for anything else."""
    if value in ("auto", "local"):
        return Endpoint(value=value, scheme="", host=None, port=None, parts=urlsplit(value))
    expected = "expected auto, host:port or ray://host:port"
    parts = _split(value if "://" in value else f"ray://{value}", "the address")
    if parts.scheme != "ray":
        raise ValueError(f"the address is a {parts.scheme}:// URL; {expected}")
    if "@" in parts.netloc:
        raise ValueError(f"the address holds '@' (a Ray address has no user info); {expected}")
    if parts.path or parts.query or parts.fragment or value.endswith(("?", "#")):
        raise ValueError(f"the address has something after host:port; {expected}")
    if not parts.hostname:
        raise ValueError(f"the address has no host; {expected}")
    if parts.port is None:
        raise ValueError(f"the address has no port; {expected}")
    return Endpoint(value=value, scheme="ray", host=parts.hostname, port=parts.port, parts=parts)


def check_form(kind: EndpointKind, value: str) -> None:
    """Refuse (ValueError) a value of this kind whose meaning the parsers could disagree on."""
    if kind == "cluster":
        parse_cluster_address(value)
    elif kind == "uri":
        parse_uri(value)
