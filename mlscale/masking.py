"""Secrets out of every text that leaves the process: one masking function, no heavy imports.

CLI lines and tracebacks, log records, `mlscale validate`, MLflow params/tags/artifacts and KubeRay
manifests all go through `mask_text` (or `mask_secrets` for nested values). It masks, in any text:
- the password of a URI's user info, and a user info without a password (a token as the user):
  https://alice:s3cr3t@host -> https://alice:***@host, https://TOKEN@host -> https://***@host;
  the user info is everything up to the authority's last '@' (a password may hold '@');
- query parameters whose names look secret (token, access_token, password, sig, X-Amz-Signature,
  X-Amz-Credential, api_key, client_secret, key, ...): ?token=abc -> ?token=***.
`strip_credentials` removes the same parts instead, for text that is used elsewhere (a manifest), where
a masked password would be sent as the password.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASK = "***"

# A key or query parameter name that holds a secret. Over-masking is the safe side.
_SECRET_NAME = re.compile(
    r"password|passwd|pwd|secret|token|api[_-]?key|credential|signature|private[_-]?key"
    r"|(^|[._-])(key|sig|pass|auth|authorization)$",
    re.I,
)
# scheme://userinfo@ : the authority ends at '/', '?', '#' or a blank; userinfo runs to its last '@'.
_USERINFO = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)(?P<userinfo>[^/?#\s]*)@", re.I)
# ?name=value or &name=value (or ;name=value) in a URI's query; the value stops before punctuation that
# ends the text or a word ("see https://h/x?token=abc." or "got 'https://h/x?token=abc'")
_QUERY_PARAM = re.compile(
    r"(?P<sep>[?&;])(?P<name>[^=&#\s?;]+)=(?P<value>[^&#\s;]*?)(?=[.,;:!)\]}'\"]*(?:[&#\s;]|$))"
)


def is_secret_name(name: str) -> bool:
    """Whether a recipe key or a query parameter name looks like it holds a secret."""
    return bool(_SECRET_NAME.search(name))


def mask_text(text: str) -> str:
    """Text with every credential in its URIs replaced by ***; the rest unchanged (idempotent)."""
    text = _USERINFO.sub(_mask_userinfo, text)
    return _QUERY_PARAM.sub(_mask_param, text)


def _mask_userinfo(m: re.Match[str]) -> str:
    user, colon, _ = m["userinfo"].partition(":")
    if colon:
        return f"{m['scheme']}{user}:{MASK}@"
    return f"{m['scheme']}{MASK}@"  # no password: the user is the secret (https://TOKEN@host)


def _mask_param(m: re.Match[str]) -> str:
    if not is_secret_name(m["name"]) or not m["value"]:
        return m[0]
    return f"{m['sep']}{m['name']}={MASK}"


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
        stripped = _strip_text(value)
        return stripped, int(stripped != value)
    return value, 0


def _strip_text(text: str) -> str:
    text = _USERINFO.sub(lambda m: m["scheme"], text)
    text = _QUERY_PARAM.sub(lambda m: _drop_param(m), text)
    text = text.replace("?&", "?")  # the first parameter went: '?token=x&v=1' -> '?&v=1' -> '?v=1'
    return re.sub(r"\?(?=[#\s]|$)", "", text)  # every parameter went: '?token=x' -> '?' -> ''


def _drop_param(m: re.Match[str]) -> str:
    if not is_secret_name(m["name"]):
        return m[0]
    return "?" if m["sep"] == "?" else ""
