"""Size limits of the package: files under 500 lines, functions under 80 (click option blocks aside)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "mlscale"
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 80


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """The function's lines from `def` to its end; decorators (generated click option blocks) not counted."""
    return (node.end_lineno or node.lineno) - node.lineno + 1


def long_functions(root: Path = PACKAGE, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """'path:line name (N lines)' for every function or method longer than `limit`."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _body_lines(node) > limit:
                found.append(
                    f"{path.relative_to(root.parent)}:{node.lineno} {node.name} ({_body_lines(node)} lines)"
                )
    return found


def test_no_function_over_80_lines():
    assert long_functions() == []


def test_no_file_over_500_lines():
    long = [
        f"{p.relative_to(PACKAGE.parent)} ({n} lines)"
        for p in sorted(PACKAGE.rglob("*.py"))
        if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES
    ]
    assert long == []


def test_the_check_sees_a_long_function(tmp_path):
    (tmp_path / "m.py").write_text("def f():\n" + "    x = 1\n" * 90)
    assert long_functions(tmp_path) == [f"{tmp_path.name}/m.py:1 f (91 lines)"]


def test_the_formatter_formats_every_line_of_the_package():
    """No `# fmt: skip` walls: the package reads the way ruff format writes it."""
    marked = [
        f"{p.relative_to(PACKAGE.parent)}:{i}"
        for p in sorted(PACKAGE.rglob("*.py"))
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if "fmt: skip" in line or "fmt: off" in line
    ]
    assert marked == []
