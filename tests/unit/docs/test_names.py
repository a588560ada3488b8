"""The docs name only what exists: every dotted `bot.…`, `handlers.…`, `storage.…` name in README.md and
docs/architecture.md imports (a module, then attributes of it), and every `bot/…`, `handlers/…`,
`storage/…`, `fakes/…`, `bench/…` path is there."""

from __future__ import annotations

import importlib
import re

import pytest

from tests.paths import ROOT

DOCS = ["README.md", "docs/architecture.md"]
# Not inside a longer name, path or URL: "cutout-bot.service" and "/path/to/bot/x" are not ours.
_DOTTED = re.compile(r"(?<![\w./-])(?:bot|handlers|storage)(?:\.[A-Za-z_]\w*)+")
_PATH = re.compile(r"(?<![\w./-])(?:bot|handlers|storage|fakes|bench)/[\w./-]*")


def mentions(pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    found = {
        (doc, match.group().rstrip("."))
        for doc in DOCS
        for match in pattern.finditer((ROOT / doc).read_text())
    }
    return sorted(found)


def resolves(name: str) -> bool:
    """Whether `name` is a module, or a module's attribute (of an attribute…)."""
    parts = name.split(".")
    for split in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            if not hasattr(found, attribute):
                return False
            found = getattr(found, attribute)
        return True
    return False


@pytest.mark.parametrize(("doc", "name"), mentions(_DOTTED), ids="{}".format)
def test_every_dotted_name_in_the_docs_exists(doc: str, name: str) -> None:
    assert resolves(name), f"{doc} names {name}, which does not exist"


@pytest.mark.parametrize(("doc", "path"), mentions(_PATH), ids="{}".format)
def test_every_path_in_the_docs_exists(doc: str, path: str) -> None:
    assert (ROOT / path).exists(), f"{doc} names {path}, which does not exist"


def test_the_docs_are_scanned() -> None:
    names = {name for _, name in mentions(_DOTTED)}
    paths = {path for _, path in mentions(_PATH)}
    assert {"bot.slack.files.SlackFiles.download_file", "bot.domain.text.from_slack"} <= names
    assert {"bot/assembly.py", "fakes/", "storage/postgres/limits.py"} <= paths
    assert not resolves("bot.slack.gateway.SlackGateway.download_file") and not resolves("bot.urls")
