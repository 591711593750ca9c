"""Small text helpers for one-line error messages, shared by every layer."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


def first_line(exc: object, limit: int = 300) -> str:
    """An error's first line (or its class name), at most `limit` characters."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]


def plain(v: Any) -> Any:
    """A numpy scalar as the Python value it holds (for messages, JSON and YAML); anything else as is."""
    return v.item() if hasattr(v, "item") else v


def did_you_mean(word: object, choices: Iterable[object]) -> str:
    """' (did you mean 'x'?)' for the closest of `choices`, or '' when none is close."""
    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def short_list(cols: Iterable[object], limit: int = 8) -> str:
    """'a, b, c' — the first `limit` names, then how many there are in all."""
    names = [str(c) for c in cols]
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")
