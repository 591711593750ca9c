"""Test modules are imported by basename (rootdir-relative, no packages): two with one name in different
folders stop the whole session at collection ('import file mismatch')."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_module_name_is_unique():
    names = Counter(p.name for p in TESTS.rglob("test_*.py"))
    assert [name for name, n in names.items() if n > 1] == []
