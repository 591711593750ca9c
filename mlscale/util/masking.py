"""Secrets out of every text that leaves the process: one parser of a URI's credentials, no heavy imports.

CLI lines and tracebacks, log records, `mlscale validate`, MLflow params/tags/artifacts, MLflow's own
printed lines and KubeRay manifests all go through `mask_text` (or `mask_secrets` for nested values), which
finds each URI (`scheme://` up to a blank) and masks it with `mask_uri`:
- the user info, everything before the last '@' of the authority: its password
  (https://alice:s3cr3t@host -> https://alice:***@host), or the user when there is no password (a token:
  https://TOKEN@host -> https://***@host). A password may hold '@', and '/', '?' or '#' written unencoded
  (https://alice:hunter/2@host): a URI parser takes the authority to end there, so the user info is taken
  to run to the last '@' of the URI whenever the text before it starts like `user:` (over-masking is the
  safe side);
- the values of query (and fragment) parameters whose names look secret (token, access_token, password,
  sig, X-Amz-Signature, X-Amz-Credential, api_key, client_secret, key, ...): ?token=abc -> ?token=***.
`strip_credentials` removes the same parts instead, for text that is used elsewhere (a manifest), where
a masked password would be sent as the password.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

MASK = "***"

# A key or query parameter name that holds a secret. Over-masking is the safe side.
_SECRET_NAME = re.compile(
    r"password|passwd|pwd|secret|token|api[_-]?key|credential|signature|private[_-]?key"
    r"|(^|[._-])(key|sig|pass|auth|authorization)$",
    re.I,
)
# A URI in free text: a scheme, '://' and everything up to a blank. Punctuation that ends a sentence or
# closes a quote or bracket ("see https://h/x?token=abc." or "got 'https://h/x?token=abc'") is not part of it.
# A second 'scheme://' starts a URI of its own (two URIs in one JSON line, without blanks between them).
_SCHEME = r"[a-z][a-z0-9+.-]*://"
_URI = re.compile(rf"\b{_SCHEME}(?:(?!{_SCHEME})\S)*", re.I)
_TRAILING = ".,;:!)]}'\""
_PARAM_SEPARATORS = re.compile(r"([&;])")
_AUTHORITY_END = re.compile(r"[/?#]")


@dataclass(frozen=True)
class _Parts:
    """A URI cut where its credentials are: scheme '://' [userinfo '@'] location [? query] [# fragment]."""

    scheme: str
    userinfo: str | None
    location: str  # host, port and path
    query: str | None
    fragment: str | None


def _parts(uri: str) -> _Parts | None:
    try:
        split = urlsplit(uri)
    except ValueError:  # an unclosed '[': the user info is still found below
        split = None
    scheme, sep, after = uri.partition("://")
    if not sep or (split is not None and split.scheme.lower() != scheme.lower()):
        return None
    userinfo, at, rest = after.rpartition("@")
    head = _AUTHORITY_END.split(userinfo, maxsplit=1)[0]
    if not at or (head != userinfo and ":" not in head):
        # No user info, or the '@' is in the path, query or fragment (https://host/p?email=a@b.com):
        # the authority is what the URI parser says, up to the first '/', '?' or '#'.
        authority = split.netloc if split is not None else _AUTHORITY_END.split(after, maxsplit=1)[0]
        userinfo, at, host = authority.rpartition("@")
        rest = host + after[len(authority) :]
    before_fragment, hash_sign, fragment = rest.partition("#")
    location, question_mark, query = before_fragment.partition("?")
    return _Parts(
        scheme=scheme,
        userinfo=userinfo if at else None,
        location=location,
        query=query if question_mark else None,
        fragment=fragment if hash_sign else None,
    )


def _join(p: _Parts) -> str:
    userinfo = "" if p.userinfo is None else p.userinfo + "@"
    query = "" if p.query is None else "?" + p.query
    fragment = "" if p.fragment is None else "#" + p.fragment
    return f"{p.scheme}://{userinfo}{p.location}{query}{fragment}"


def _params(text: str | None, keep: Callable[[str, str], str]) -> str | None:
    """Query or fragment parameters, each `name=value` replaced by keep(name, value) ('' drops it)."""
    if text is None:
        return None
    pieces = _PARAM_SEPARATORS.split(text)
    out: list[str] = []
    for i in range(0, len(pieces), 2):
        name, eq, value = pieces[i].partition("=")
        kept = keep(name, value) if eq and value and is_secret_name(unquote(name)) else pieces[i]
        if kept:
            out += [pieces[i - 1]] if i and out else []
            out.append(kept)
    return "".join(out)


def mask_uri(uri: str) -> str:
    """The URI with its password (or token user) and its secret parameters' values as *** (idempotent)."""
    p = _parts(uri)
    if p is None:
        return uri
    userinfo = p.userinfo
    if userinfo is not None:
        user, colon, _ = userinfo.partition(":")
        userinfo = f"{user}:{MASK}" if colon else MASK  # no password: the user is the secret
    masked = _Parts(
        scheme=p.scheme,
        userinfo=userinfo,
        location=p.location,
        query=_params(p.query, lambda name, _: f"{name}={MASK}"),
        fragment=_params(p.fragment, lambda name, _: f"{name}={MASK}"),
    )
    return _join(masked)


def strip_uri(uri: str) -> str:
    """The URI without its user info and without its secret parameters."""
    p = _parts(uri)
    if p is None:
        return uri
    query, fragment = _params(p.query, lambda *_: ""), _params(p.fragment, lambda *_: "")
    return _join(_Parts(p.scheme, None, p.location, query or None, fragment or None))


def credentials_problem(uri: str) -> str | None:
    """Why a client would not find the user info the masking found (None: it would): '/', '?' or '#' in a
    password end the authority for every URI parser (http://alice:hunter/2@host is the host 'alice' with
    the port 'hunter'), so the password must be percent-encoded."""
    p = _parts(uri)
    if p is None or p.userinfo is None or not _AUTHORITY_END.search(p.userinfo):
        return None
    try:
        port = urlsplit(uri).port
    except ValueError:
        port = -1
    if port != -1:  # a valid host:port all the same (http://h:5000/x?email=a@b.com): a client connects there
        return None
    return "its user info holds '/', '?' or '#', which end the host part: percent-encode them (%2F, %3F, %23)"


def is_secret_name(name: str) -> bool:
    """Whether a recipe key or a query parameter name looks like it holds a secret."""
    return bool(_SECRET_NAME.search(name))


def _each_uri(text: str, rewrite: Callable[[str], str]) -> str:
    def one(m: re.Match[str]) -> str:
        uri = m[0].rstrip(_TRAILING)
        return rewrite(uri) + m[0][len(uri) :]

    return _URI.sub(one, text)


def mask_text(text: str) -> str:
    """Text with every credential in its URIs replaced by ***; the rest unchanged (idempotent)."""
    return _each_uri(text, mask_uri)


def mask_secrets(value: Any, key: str = "") -> Any:
    """A nested value (a recipe as a dict) with values under secret-looking keys as *** and every string
    masked with mask_text."""
    if isinstance(value, Mapping):
        return {k: mask_secrets(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v, key) for v in value]
    if key and is_secret_name(key) and value not in (None, ""):
        return MASK
    if isinstance(value, str):
        return mask_text(value)
    return value


def has_credentials(text: str) -> bool:
    return mask_text(text) != text


def strip_credentials(value: Any) -> tuple[Any, int]:
    """Remove user info and secret query parameters from every URI in a nested value; returns the value
    and how many strings changed. Removed, not masked: for text used as is elsewhere."""
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        total = 0
        for k, v in value.items():
            out[k], n = strip_credentials(v)
            total += n
        return out, total
    if isinstance(value, list):
        pairs = [strip_credentials(v) for v in value]
        return [p[0] for p in pairs], sum(p[1] for p in pairs)
    if isinstance(value, str):
        stripped = _each_uri(value, strip_uri)
        return stripped, int(stripped != value)
    return value, 0
