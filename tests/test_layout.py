"""The three rooms of impl/: the machinery drives the engine and the released code alike and
imports neither by name; the engine knows nothing of the adapter.  (The adapter runs SGLang's
methods against the engine's in-process scheduler model, so it may import the engine.)"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

IMPL = Path(__file__).resolve().parents[1] / "impl"


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, absolute (relative imports resolved against impl/)."""
    package = path.relative_to(IMPL.parent).with_suffix("").parts[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            out.add(module)
            out |= {f"{module}.{a.name}" for a in node.names}
    return out


@pytest.mark.parametrize("room, forbidden", [
    ("machinery", ("impl.engine", "impl.upstream")),
    ("engine", ("impl.upstream",)),
])
def test_each_room_imports_only_what_it_may(room, forbidden):
    files = sorted((IMPL / room).rglob("*.py"))
    assert files
    bad = {f"{p.relative_to(IMPL.parent)}: {m}" for p in files for m in imported(p)
           if any(m == f or m.startswith(f + ".") for f in forbidden)}
    assert not bad, sorted(bad)
