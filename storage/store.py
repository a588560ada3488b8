"""The store: every query the bot makes is a method here, on SQLite (one machine, the default) or on
PostgreSQL (a fleet of instances sharing one database, `CUTOUT_DATABASE_URL`). The queries are written
once (storage/queries/); each database provides the connection, its migrations, and how the fleet is
woken and limited. Methods take and return the dataclasses of `bot.domain.tasks`."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from storage.queries.base import DEFAULT_LEASE_S, Clock
from storage.queries.breakers import BreakerQueries
from storage.queries.intake import IntakeQueries
from storage.queries.settings import SettingsQueries
from storage.queries.tasks import TaskQueries
from storage.queries.usage import UsageQueries

DATABASE_URL_SCHEMES = ("postgresql://", "postgres://")


def is_database_url(target: str | Path) -> bool:
    """Whether `target` names a PostgreSQL database rather than an SQLite file."""
    return str(target).startswith(DATABASE_URL_SCHEMES)


class Store(IntakeQueries, SettingsQueries, TaskQueries, BreakerQueries, UsageQueries):
    """The store: every query, grouped by what it is about (storage/queries/)."""

    @staticmethod
    async def open(
        target: str | Path,
        *,
        clock: Clock | None = None,
        owner: str | None = None,
        lease_s: float = DEFAULT_LEASE_S,
    ) -> Store:
        """Open and migrate the database `target` names: a `postgresql://` URL, else an SQLite file
        (created with owner-only permissions). `clock`: the time every write records (by default the
        machine's on SQLite, the database server's on PostgreSQL); `owner`: this instance's name."""
        if is_database_url(target):
            from storage.postgres.store import PostgresStore

            return await PostgresStore.connect(str(target), clock=clock, owner=owner, lease_s=lease_s)
        from storage.sqlite.store import SQLiteStore

        return await SQLiteStore.connect(target, clock=clock or time.time, owner=owner, lease_s=lease_s)

    @property
    def shared(self) -> bool:
        """Whether other instances may share this database (PostgreSQL)."""
        return False

    async def ping(self) -> None:
        """Raise when the database cannot be reached (the health check)."""
        await self._rows("SELECT 1")

    async def listen(self, wake: Callable[[], None]) -> None:
        """Call `wake` whenever any instance queues work. On SQLite there is no other instance: the bot's
        own handlers wake its runner directly, so this does nothing."""

    def vendor_limits(self, vendor: str, *, concurrency: int, per_second: float | None) -> Any:
        """Limits on one vendor's calls that hold across every instance sharing this database, or None
        when they need only hold in this process (SQLite)."""
        return None
