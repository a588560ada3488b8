"""The SQLite store: every query the bot makes is a method here.

One aiosqlite connection in autocommit mode with WAL. Its one thread runs each statement whole, so a
statement is atomic and needs no lock; no method relies on two statements running back to back. A query
is one trip to that thread (`execute_fetchall`), and under load the trips queue: a method makes as few as
it can. Methods take and return the dataclasses of `bot.domain.tasks`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from storage.migrations import apply_migrations
from storage.sqlite.intake import IntakeQueries
from storage.sqlite.rows import Clock, connect
from storage.sqlite.settings import SettingsQueries
from storage.sqlite.tasks import TaskQueries


class Store(IntakeQueries, SettingsQueries, TaskQueries):
    """The store: every query, grouped by what it is about (storage/sqlite/)."""

    @classmethod
    async def open(cls, path: Path | str, *, clock: Clock = time.time) -> Store:
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
            store = cls(db, clock=clock, intake_db=intake_db)
            flagged = await store._rows(
                "SELECT id FROM tasks WHERE cancel_requested = 1 AND state NOT IN ('done', 'failed', 'cancelled')"
            )
        except BaseException:
            await db.close()
            if intake_db is not None:
                await intake_db.close()
            raise
        store._cancel_flags.update(int(row[0]) for row in flagged)
        return store
