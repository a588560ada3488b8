"""What every group of queries shares: the connection, one-trip statements, and rows made into the
dataclasses of bot.domain.tasks."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import aiosqlite

from bot.domain.grammar import parse_spec
from bot.domain.tasks import ImageRecord, ResultFile, SourceFile, StoredPart, Task, TaskSource, TaskState

Clock = Callable[[], float]


class Database:
    """The connections and the clock; each group of queries (intake, settings, tasks) builds on it."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        *,
        clock: Clock = time.time,
        intake_db: aiosqlite.Connection | None = None,
    ) -> None:
        self._db = db
        # Its own connection (and thread) for recording requests before Slack's ack: the ack then never
        # waits behind the runner's statements queued on the main one. SQLite serialises the writes.
        self._intake_db = intake_db or db
        self._clock = clock
        self._closed = False
        self._cancel_flags: set[int] = set()  # unfinished tasks whose owner asked to stop them

    async def _rows(
        self, sql: str, parameters: Iterable[Any] = (), *, intake: bool = False
    ) -> list[aiosqlite.Row]:
        """Run one statement (a query, or a write with or without RETURNING) and read its rows, in one trip
        to the database thread (a cursor costs three); `intake` runs it on the intake connection."""
        db = self._intake_db if intake else self._db
        return list(await db.execute_fetchall(sql, parameters))

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._intake_db is not self._db:
                await self._intake_db.close()
            await self._db.close()


async def connect(path: Path | str) -> aiosqlite.Connection:
    """A connection in autocommit mode with WAL (readers never wait for the writer) and a busy timeout."""
    db = await aiosqlite.connect(path, isolation_level=None)
    try:
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute("PRAGMA busy_timeout=5000")
    except BaseException:
        await db.close()
        raise
    return db


def image_of(row: aiosqlite.Row) -> ImageRecord:
    return ImageRecord(
        channel_id=row["channel_id"],
        message_ts=row["message_ts"],
        thread_ts=row["thread_ts"],
        user_id=row["user_id"],
        file=SourceFile(
            row["file_id"], row["name"], row["mimetype"], row["url"], row["size"], row["external"]
        ),
        created_at=row["created_at"],
    )


def task_of(row: aiosqlite.Row) -> Task:
    return Task(
        id=row["id"],
        team_id=row["team_id"],
        channel_id=row["channel_id"],
        user_id=row["user_id"],
        message_ts=row["message_ts"],
        thread_ts=row["thread_ts"],
        file=SourceFile(
            row["file_id"],
            row["file_name"],
            row["file_mimetype"],
            row["file_url"],
            row["file_size"],
            row["file_external"],
        ),
        spec=parse_spec(row["spec"]),
        source=TaskSource(row["source"]),
        state=TaskState(row["state"]),
        vendor=row["vendor"],
        attempts=row["attempts"],
        vendor_task_id=row["vendor_task_id"],
        error_code=row["error_code"],
        error_message=row["error_message"],
        result_files=tuple(ResultFile(**item) for item in json.loads(row["result_files"])),
        vendor_parts=tuple(StoredPart(**item) for item in json.loads(row["vendor_parts"] or "[]")),
        summary=row["summary"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        notified_at=row["notified_at"],
        progress_ts=row["progress_ts"],
        cancel_requested=bool(row["cancel_requested"]),
    )
