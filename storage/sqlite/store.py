"""The SQLite store: one file, one machine, nothing to install.

One aiosqlite connection in autocommit mode with WAL. Its one thread runs each statement whole, so a
statement is atomic and needs no lock; no method relies on two statements running back to back. A query
is one trip to that thread (`execute_fetchall`), and under load the trips queue: a method makes as few as
it can. Recording Slack requests before their ack has a connection of its own.

One process owns the file: when the store opens, every lease a previous process held has run out, so the
runner's first claims take its unfinished tasks up again at once.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiosqlite

from storage.queries.base import DEFAULT_LEASE_S, Clock
from storage.rows import Row
from storage.sqlite.migrations import apply_migrations
from storage.store import Store


class SQLiteStore(Store):
    def __init__(
        self,
        db: aiosqlite.Connection,
        *,
        clock: Clock = time.time,
        intake_db: aiosqlite.Connection | None = None,
        owner: str | None = None,
        lease_s: float = DEFAULT_LEASE_S,
    ) -> None:
        super().__init__(clock=clock, owner=owner, lease_s=lease_s)
        self._db = db
        # Its own connection (and thread) for recording requests before Slack's ack: the ack then never
        # waits behind the runner's statements queued on the main one. SQLite serialises the writes.
        self._intake_db = intake_db or db

    @classmethod
    async def connect(
        cls,
        path: Path | str,
        *,
        clock: Clock = time.time,
        owner: str | None = None,
        lease_s: float = DEFAULT_LEASE_S,
    ) -> SQLiteStore:
        """Open (creating with owner-only permissions) and migrate the database at `path`."""
        if str(path) != ":memory:":
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
            os.chmod(path, 0o600)
        db = await connect(path)
        intake_db = None
        try:
            await apply_migrations(db)
            if str(path) != ":memory:":
                intake_db = await connect(path)
            store = cls(db, clock=clock, intake_db=intake_db, owner=owner, lease_s=lease_s)
            # every task taken and not yet told in its thread belonged to a process that is gone
            await store._rows(
                "UPDATE tasks SET lease_until = 0 WHERE state <> 'queued' AND notified_at IS NULL"
            )
        except BaseException:
            await db.close()
            if intake_db is not None:
                await intake_db.close()
            raise
        return store

    async def _rows(self, sql: str, parameters: Iterable[Any] = (), *, intake: bool = False) -> list[Row]:
        """One statement in one trip to the database thread (a cursor costs three)."""
        db = self._intake_db if intake else self._db
        return list(await db.execute_fetchall(sql, parameters))

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._intake_db is not self._db:
                await self._intake_db.close()
            await self._db.close()


BUSY_TIMEOUT_S = 5.0


async def connect(path: Path | str) -> aiosqlite.Connection:
    """A connection in autocommit mode with WAL (readers never wait for the writer) and a busy timeout."""
    db = await aiosqlite.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
    try:
        db.row_factory = aiosqlite.Row
        await _switch_to_wal(db)
        await db.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        await db.close()
        raise
    return db


async def _switch_to_wal(db: aiosqlite.Connection) -> None:
    """`PRAGMA journal_mode=WAL`, tried again while another connection holds the file.

    Switching a new file to WAL needs it alone, and SQLite answers "database is locked" at once, without
    its busy handler, when another process opening the same file holds a lock for a moment.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    pause = 0.01
    while True:
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() + pause > deadline:
                raise
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.2)
