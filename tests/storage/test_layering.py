"""storage/ is a lower layer: it imports only itself, the plain types, the id set and the infrastructure errors."""

from __future__ import annotations

import ast
from pathlib import Path

import foundry.storage

ALLOWED = ("foundry.storage", "foundry.types", "foundry.idset", "foundry.errors")


def foundry_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == "foundry" or name.startswith("foundry.")}


def test_storage_imports_nothing_above_it():
    folder = Path(foundry.storage.__file__).parent
    offending = {f"{path.name}: {name}" for path in folder.glob("*.py") for name in foundry_imports(path)
                 if not name.startswith(ALLOWED)}
    assert not offending, sorted(offending)
