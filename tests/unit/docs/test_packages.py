"""Every package says what lives in it: its `__init__.py` has a docstring of at least two lines and an
`__all__` naming its surface, so a newcomer can read the layers off the folders."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.paths import ROOT

TOP_LEVEL = ["bot", "handlers", "storage", "fakes", "bench"]


def package_inits() -> list[Path]:
    inits: list[Path] = []
    for top in TOP_LEVEL:
        inits.extend(
            path for path in sorted((ROOT / top).rglob("__init__.py")) if "__pycache__" not in path.parts
        )
    return inits


def says_what_lives_there(path: Path) -> list[str]:
    """What the `__init__.py` lacks: a docstring of two lines or more, an `__all__`."""
    module = ast.parse(path.read_text(), filename=str(path))
    lacks = []
    docstring = ast.get_docstring(module) or ""
    if len(docstring.strip().splitlines()) < 2:
        lacks.append("a docstring of at least two lines")
    names = {
        target.id
        for node in module.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    }
    if "__all__" not in names:
        lacks.append("__all__")
    return lacks


@pytest.mark.parametrize(
    "path",
    [pytest.param(path, id=str(path.relative_to(ROOT))) for path in package_inits()],
)
def test_every_package_says_in_its_init_what_lives_there(path: Path) -> None:
    assert says_what_lives_there(path) == [], f"{path.relative_to(ROOT)} lacks {says_what_lives_there(path)}"


def test_the_walk_finds_the_subpackages() -> None:
    found = {str(path.relative_to(ROOT)) for path in package_inits()}
    assert {"bot/__init__.py", "bot/engines/vendors/__init__.py", "storage/postgres/__init__.py"} <= found
    assert {"handlers/__init__.py", "fakes/slack/__init__.py", "bench/__init__.py"} <= found
