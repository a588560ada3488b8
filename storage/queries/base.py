"""What the queries need from a database: one statement in one trip (`_rows`), the clock every time
written is read from, and who this instance is (the owner of the tasks it claims)."""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

from storage.rows import Row

Clock = Callable[[], float]

DEFAULT_LEASE_S = 60.0  # CUTOUT_LEASE_S: how long a claimed task stays ours without a renewal


def instance_name() -> str:
    """A name for this process among the instances sharing a database: host, process id, and a random
    tail (a restarted process on the same host is a new instance)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


class Database:
    """A database the queries run on; `SQLiteStore` and `PostgresStore` provide one."""

    # Added to the sub-select that picks tasks to claim: PostgreSQL skips rows another instance is
    # claiming at the same moment instead of waiting for them; SQLite runs one statement at a time.
    SKIP_LOCKED = ""

    def __init__(
        self, *, clock: Clock = time.time, owner: str | None = None, lease_s: float = DEFAULT_LEASE_S
    ):
        self._clock = clock
        self.owner = owner or instance_name()
        self.lease_s = lease_s
        self._closed = False

    async def _rows(self, sql: str, parameters: Iterable[Any] = (), *, intake: bool = False) -> list[Row]:
        """Run one statement (a query, or a write with or without RETURNING) and read its rows; `intake`
        runs it where recording a Slack request never waits behind the runner's statements."""
        raise NotImplementedError

    async def _rows_one_at_a_time(self, key: str, sql: str, parameters: Iterable[Any] = ()) -> list[Row]:
        """Run one statement so that no other statement run this way with the same `key` runs at the same
        time, on any instance: a read-then-write such as "count, and insert if under the limit" is then
        exact. SQLite runs one statement at a time anyway; PostgreSQL takes a lock first."""
        return await self._rows(sql, parameters)

    async def close(self) -> None:
        raise NotImplementedError
