"""bot.domain is a leaf: it imports the standard library and itself, nothing else. The import-linter
contract names what it may not import; this says what it may, so a new dependency cannot slip past a list."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from tests.paths import ROOT

DOMAIN = ROOT / "bot" / "domain"


def imported(path: Path) -> list[str]:
    """The top-level names a module imports (`bot.domain.x` kept whole); relative imports as `.`."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.append("." if node.level else node.module or "")
    return names


def allowed(name: str) -> bool:
    return (
        name == "."
        or name == "bot.domain"
        or name.startswith("bot.domain.")
        or name.partition(".")[0] in sys.stdlib_module_names  # __future__ included
    )


@pytest.mark.parametrize("path", sorted(DOMAIN.glob("*.py")), ids=lambda path: path.name)
def test_the_domain_imports_only_the_standard_library_and_itself(path: Path) -> None:
    outside = [name for name in imported(path) if not allowed(name)]
    assert outside == [], (
        f"{path.relative_to(ROOT)} imports {outside}: bot.domain is the standard library only"
    )


def test_the_scan_sees_the_domain() -> None:
    assert {path.name for path in DOMAIN.glob("*.py")} >= {"grammar.py", "tasks.py", "text.py"}
    assert not allowed("psycopg") and not allowed("bot.config") and allowed("dataclasses")
