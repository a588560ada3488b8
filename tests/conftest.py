"""Shared fixtures: a clean environment for every test (the end-to-end `harness` is in e2e/conftest.py)."""

from __future__ import annotations

import os

import pytest

_PREFIXES = ("SLACK_", "AILAB_", "AIDGE_", "PICWISH_", "CUTOUT_")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test sees the developer's tokens, and none reads a stray `.env`."""
    for name in list(os.environ):
        if name.startswith(_PREFIXES) or name == "PORT":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture(autouse=True)
def restore_logging():
    """`main()` configures the root logger; give every test back the logging it started with."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    from tests import fault_report

    if fault_report.counts:
        terminalreporter.section("fault injection and bad input")
        for line in fault_report.lines():
            terminalreporter.write_line(line)
