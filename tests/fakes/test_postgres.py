"""The throwaway PostgreSQL server that tests and benchmarks run the store on: a real server, kept to itself."""

from __future__ import annotations

import socket
from pathlib import Path

import psycopg
import pytest

from fakes import postgres
from fakes.postgres import ThrowawayPostgres


async def test_a_fresh_database_answers_psycopgs_async_connection(postgres_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(postgres_url) as connection:
        cursor = await connection.execute("SELECT current_setting('server_version_num')::int")
        row = await cursor.fetchone()
    assert row is not None
    assert row[0] >= 150000


def test_databases_are_separate(postgres_server: ThrowawayPostgres) -> None:
    first = postgres_server.create_database("separate_first")
    second = postgres_server.create_database("separate_second")
    with psycopg.connect(first) as connection:
        connection.execute("CREATE TABLE marker (id int)")
    with psycopg.connect(first) as connection:
        assert connection.execute("SELECT to_regclass('marker')").fetchone() == ("marker",)
    with psycopg.connect(second) as connection:
        assert connection.execute("SELECT to_regclass('marker')").fetchone() == (None,)


def test_each_test_gets_a_database_of_its_own(postgres_server: ThrowawayPostgres, postgres_url: str) -> None:
    assert postgres_url != postgres_server.url
    tables = "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
    with psycopg.connect(postgres_url) as connection:
        assert connection.execute(tables).fetchone() == (0,)


def test_the_server_listens_on_127_0_0_1_alone(postgres_server: ThrowawayPostgres) -> None:
    with psycopg.connect(postgres_server.url) as connection:
        assert connection.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        assert connection.execute("SHOW unix_socket_directories").fetchone() == (str(postgres_server.folder),)
    # All of 127/8 reaches this machine, so a server bound to every address would answer on 127.0.0.2.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", postgres_server.port), timeout=5).close()


def test_settings_for_speed_and_for_a_fleet(postgres_server: ThrowawayPostgres) -> None:
    with psycopg.connect(postgres_server.url) as connection:
        for name, value in [
            ("fsync", "off"),
            ("synchronous_commit", "off"),
            ("full_page_writes", "off"),
            ("max_connections", "200"),
        ]:
            assert connection.execute(f"SHOW {name}").fetchone() == (value,)


@pytest.mark.usefixtures("postgres_server")  # skipped, or failed in CI, without PostgreSQL
def test_stop_removes_everything() -> None:
    server = ThrowawayPostgres()
    server.start()
    folder, url = server.folder, server.url
    server.stop()
    server.stop()
    assert folder is not None
    assert not folder.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=5)


@pytest.mark.usefixtures("postgres_server")  # skipped, or failed in CI, without PostgreSQL
def test_a_server_that_cannot_start_says_why_from_its_log() -> None:
    server = ThrowawayPostgres(max_connections=0)
    with pytest.raises(RuntimeError, match="max_connections"):
        server.start()
    assert server.folder is None


def test_without_postgresql_the_reason_is_given(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(postgres, "POSTGRESQL_LIB", tmp_path)
    reason = postgres.postgres_unavailable()
    assert reason is not None
    assert "PostgreSQL not found" in reason
