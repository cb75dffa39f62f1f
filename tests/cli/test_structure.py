"""The house rules of issue 15 that a reviewer would otherwise count by hand.

- No module of ``src/levguard`` imports a private name (or a private module) of another top-level
  package: what crosses a package boundary is public.
- No module is longer than 800 lines (ARCHITECTURE.md, "Size").
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
MODULES = sorted(p for p in (SRC / "levguard").rglob("*.py") if "migrations" not in p.parts)
MAX_LINES = 800


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_imports(path: Path) -> list[str]:
    """``module:line imported`` for each private name or module imported across top-level packages."""
    here = _module(path)
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("levguard"):
            if _top(node.module) == _top(here):
                continue
            names = [a.name for a in node.names if _private(a.name)]
            if any(_private(p) for p in node.module.split(".")[1:]) or names:
                found.append(f"{here}:{node.lineno} {node.module} {names}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "levguard" and _top(alias.name) != _top(here) and any(map(_private, parts[1:])):
                    found.append(f"{here}:{node.lineno} {alias.name}")
    return found


def test_the_source_tree_is_collected() -> None:
    assert len(MODULES) > 100


def test_no_private_name_crosses_a_package_boundary() -> None:
    found = [hit for path in MODULES for hit in private_imports(path)]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_over_800_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(SRC)} has {lines} lines"
