"""Shared fixtures: a clean environment for every test, and a real PostgreSQL server with a fresh database
per test (the end-to-end `harness` is in e2e/conftest.py)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from fakes.postgres import ThrowawayPostgres, postgres_unavailable

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


_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[ThrowawayPostgres]:
    """One PostgreSQL server for the run; without PostgreSQL the test is skipped, or fails under
    CI_REQUIRE_POSTGRES=1 (CI installs PostgreSQL, so a skip there would hide untested code)."""
    reason = postgres_unavailable()
    if reason is not None:
        if os.environ.get("CI_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"CI_REQUIRE_POSTGRES=1 and {reason}", pytrace=False)
        pytest.skip(reason)
    with ThrowawayPostgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: ThrowawayPostgres) -> Iterator[str]:
    """The URL of a new empty database for one test, dropped after it."""
    name = f"test_{next(_database_numbers)}"
    yield postgres_server.create_database(name)
    postgres_server.drop_database(name)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    from tests import fault_report

    if fault_report.counts:
        terminalreporter.section("fault injection and bad input")
        for line in fault_report.lines():
            terminalreporter.write_line(line)
