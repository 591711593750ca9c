"""docs/architecture.md names only what exists: its layer table matches the tree and the ranks of
test_layers.py, and every module, file and dotted name it cites is there."""

from __future__ import annotations

import ast
import re

from test_layers import MODULES, PACKAGE, RANK, layer

ROOT = PACKAGE.parent
DOC = ROOT / "docs" / "architecture.md"
TICKED = re.compile(r"`([^`]+)`")


def table(text: str) -> dict[str, tuple[int, list[str]]]:
    """The layer table: 'mlscale.pkg' (or 'mlscale.mod', 'mlscale') -> (rank, the modules its row names)."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not cells[0].isdigit():
            continue
        (name,) = TICKED.findall(cells[1])
        if name.endswith("/"):
            module = "mlscale." + name.rstrip("/").replace("/", ".")
        else:
            module = "mlscale" if name == "__init__.py" else "mlscale." + name.removesuffix(".py")
        rows[module] = (int(cells[0]), [f"{module}.{m.rstrip('/')}" for m in TICKED.findall(cells[2])])
    return rows


def _defines(module: str, name: str) -> bool:
    tree = ast.parse(MODULES[module].read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == name:
            return True
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id == name:
            return True
        if isinstance(node, ast.alias) and (node.asname or node.name) == name:
            return True
    return False


def missing(text: str) -> list[str]:
    """Every file path and dotted mlscale name in `text` that does not exist."""
    gone = []
    for token in TICKED.findall(text):
        if re.fullmatch(r"[\w/.]+\.py", token) and not (
            (PACKAGE / token).exists() or (ROOT / token).exists()
        ):
            gone.append(token)
        elif re.fullmatch(r"mlscale(\.\w+)+", token):
            parts = token.split(".")
            k = max(i for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in MODULES)
            if k < len(parts) and not _defines(".".join(parts[:k]), parts[k]):
                gone.append(token)
    return gone


def test_the_layer_table_is_the_tree():
    rows = table(DOC.read_text())
    assert {m for m in rows if m in RANK} == set(RANK), "a layer of test_layers.py is missing from the table"
    assert {m: rank for m, (rank, _) in rows.items() if m in RANK} == RANK
    assert {m: rank for m, (rank, _) in rows.items() if m not in RANK} == {
        m: RANK[layer(m)] for m in rows if m not in RANK
    }
    named = [m for _, (_, modules) in rows.items() for m in modules]
    assert len(named) > 40
    assert [m for m in named if m not in MODULES] == []


def test_every_file_and_name_the_doc_cites_exists():
    assert missing(DOC.read_text()) == []


def test_the_checks_see_what_is_not_there():
    row = "| 3 | `data/` | `files` `no_such_module` | x |"
    assert table(row) == {"mlscale.data": (3, ["mlscale.data.files", "mlscale.data.no_such_module"])}
    assert missing("`data/gone.py` `mlscale.data.prepare.no_such_function` `data/prepare.py`") == [
        "data/gone.py",
        "mlscale.data.prepare.no_such_function",
    ]
