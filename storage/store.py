"""The SQLite store: every query the bot makes is a method here.

One aiosqlite connection in autocommit mode with WAL. Its one thread runs each statement whole, so a
statement is atomic and needs no lock; no method relies on two statements running back to back. A query
is one trip to that thread (`execute_fetchall`), and under load the trips queue: a method makes as few as
it can. Methods take and return the dataclasses of `bot.domain.tasks`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import aiosqlite

from bot.domain.grammar import Spec, parse_spec
from bot.domain.tasks import (
    UNFINISHED_STATES,
    ChannelSettings,
    ImageRecord,
    InboxEntry,
    NewTask,
    ResultFile,
    SourceFile,
    StoredPart,
    Task,
    TaskSource,
    TaskState,
    Usage,
)
from storage.migrations import apply_migrations

Clock = Callable[[], float]


class Store:
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

    @classmethod
    async def open(cls, path: Path | str, *, clock: Clock = time.time) -> Store:
        """Open (creating with owner-only permissions) and migrate the database at `path`."""
        if str(path) != ":memory:":
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
            os.chmod(path, 0o600)
        db = await _connect(path)
        intake_db = None
        try:
            await apply_migrations(db)
            if str(path) != ":memory:":
                intake_db = await _connect(path)
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

    async def _rows(self, sql: str, parameters: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        """Run one statement (a query, or a write with or without RETURNING) and read its rows, in one trip
        to the database thread (a cursor costs three)."""
        return list(await self._db.execute_fetchall(sql, parameters))

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._intake_db is not self._db:
                await self._intake_db.close()
            await self._db.close()

    # --- images ------------------------------------------------------------------------------

    async def record_image(self, image: ImageRecord) -> None:
        await self._rows(
            """
            INSERT OR IGNORE INTO images
                (channel_id, message_ts, file_id, thread_ts, user_id, name, mimetype, url, size, external,
                 created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            (
                image.channel_id,
                image.message_ts,
                image.file.file_id,
                image.thread_ts,
                image.user_id,
                image.file.name,
                image.file.mimetype,
                image.file.url,
                image.file.size,
                image.file.external,
                image.created_at or self._clock(),
            ),
        )

    async def latest_image_message(
        self, channel_id: str, user_id: str, *, within_s: float
    ) -> list[ImageRecord]:
        """The images of the user's newest image message in the channel, if posted within `within_s`."""
        since = self._clock() - within_s
        rows = await self._rows(
            """
            SELECT * FROM images
            WHERE channel_id = ? AND message_ts = (
                SELECT message_ts FROM images
                WHERE channel_id = ? AND user_id = ? AND created_at >= ?
                ORDER BY created_at DESC, message_ts DESC LIMIT 1)
            ORDER BY rowid
            """,
            (channel_id, channel_id, user_id, since),
        )
        return [_image(row) for row in rows]

    # --- armed specs and channel settings ----------------------------------------------------

    async def arm_spec(self, channel_id: str, user_id: str, spec: Spec, *, ttl_s: float) -> None:
        now = self._clock()
        await self._rows(
            """
            INSERT INTO armed_specs (channel_id, user_id, spec, armed_at, expires_at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (channel_id, user_id)
            DO UPDATE SET spec = excluded.spec, armed_at = excluded.armed_at, expires_at = excluded.expires_at
            """,
            (channel_id, user_id, spec.words(), now, now + ttl_s),
        )

    async def take_armed_spec(self, channel_id: str, user_id: str) -> Spec | None:
        """Remove and return the user's armed spec for the channel, unless it has expired."""
        rows = await self._rows(
            "DELETE FROM armed_specs WHERE channel_id = ? AND user_id = ? RETURNING spec, expires_at",
            (channel_id, user_id),
        )
        row = rows[0] if rows else None
        if row is None or row["expires_at"] < self._clock():
            return None
        return parse_spec(row["spec"])

    async def channel_settings(self, channel_id: str) -> ChannelSettings:
        rows = await self._rows(
            "SELECT default_spec, auto FROM channel_settings WHERE channel_id = ?", (channel_id,)
        )
        row = rows[0] if rows else None
        if row is None:
            return ChannelSettings(channel_id)
        spec = parse_spec(row["default_spec"]) if row["default_spec"] else None
        return ChannelSettings(channel_id, default_spec=spec, auto=bool(row["auto"]))

    async def set_channel_default(self, channel_id: str, spec: Spec, *, user_id: str) -> None:
        await self._upsert_channel(channel_id, "default_spec", spec.words(), user_id)

    async def set_channel_auto(self, channel_id: str, on: bool, *, user_id: str) -> None:
        await self._upsert_channel(channel_id, "auto", int(on), user_id)

    async def _upsert_channel(self, channel_id: str, column: str, value: Any, user_id: str) -> None:
        assert column in ("default_spec", "auto")
        await self._rows(
            f"""
            INSERT INTO channel_settings (channel_id, {column}, updated_by, updated_at) VALUES (?, ?, ?, ?)
            ON CONFLICT (channel_id) DO UPDATE SET
                {column} = excluded.{column}, updated_by = excluded.updated_by, updated_at = excluded.updated_at
            """,  # noqa: S608 - column is one of two fixed names
            (channel_id, value, user_id, self._clock()),
        )

    # --- events ------------------------------------------------------------------------------

    async def event_seen(self, event_id: str) -> bool:
        """Whether a Slack event with this id was already handled (Slack delivers at least once)."""
        return bool(await self._rows("SELECT 1 FROM seen_events WHERE event_id = ?", (event_id,)))

    async def mark_event(self, event_id: str) -> None:
        """Record an event as handled — after its work is recorded, so a crash before that loses nothing."""
        await self._rows(
            "INSERT OR IGNORE INTO seen_events (event_id, seen_at) VALUES (?, ?)",
            (event_id, self._clock()),
        )

    # --- the inbox: Slack requests recorded before they are acknowledged ---------------------

    async def inbox_add(self, body: dict[str, Any]) -> int:
        """Record a request that may queue work; returns its id. Call before Slack is acknowledged."""
        rows = await self._intake_db.execute_fetchall(
            "INSERT INTO inbox (body, received_at) VALUES (?, ?) RETURNING id",
            (json.dumps(body, separators=(",", ":")), self._clock()),
        )
        return int(next(iter(rows))[0])

    async def inbox_settle(self, entry_id: int) -> None:
        """The request's work is recorded (or it needed none): it will not be replayed."""
        await self._rows("DELETE FROM inbox WHERE id = ?", (entry_id,))

    async def inbox_unsettled(self) -> list[InboxEntry]:
        """Requests a stopped process acknowledged but did not finish recording, oldest first; each call
        counts one more replay of each."""
        rows = await self._rows("UPDATE inbox SET attempts = attempts + 1 RETURNING id, body, attempts")
        return sorted(
            (InboxEntry(int(row[0]), json.loads(row[1]), int(row[2])) for row in rows),
            key=lambda entry: entry.id,
        )

    # --- tasks -------------------------------------------------------------------------------

    async def create_task(self, new: NewTask) -> Task | None:
        """Queue a task; None when a task with the same dedupe key already exists."""
        now = self._clock()
        rows = await self._rows(
            """
                INSERT OR IGNORE INTO tasks
                    (team_id, channel_id, user_id, message_ts, thread_ts, file_id, file_name, file_mimetype,
                     file_url, file_size, file_external, spec, mode, source, dedupe_key, state, created_at,
                     updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?)
                RETURNING *
                """,
            (
                new.team_id,
                new.channel_id,
                new.user_id,
                new.message_ts,
                new.thread_ts,
                new.file.file_id,
                new.file.name,
                new.file.mimetype,
                new.file.url,
                new.file.size,
                new.file.external,
                new.spec.words(),
                new.spec.mode.value,
                new.source.value,
                new.dedupe_key,
                now,
                now,
            ),
        )
        row = rows[0] if rows else None
        return _task(row) if row is not None else None

    async def get_task(self, task_id: int) -> Task | None:
        rows = await self._rows("SELECT * FROM tasks WHERE id = ?", (task_id,))
        row = rows[0] if rows else None
        return _task(row) if row is not None else None

    async def claim_tasks(self, limit: int) -> list[Task]:
        """Atomically move up to `limit` of the oldest queued tasks to `running` and return them, oldest
        first. One statement for them all: a runner with many free slots fills them in one trip."""
        now = self._clock()
        rows = await self._rows(
            """
            UPDATE tasks
            SET state = 'running', attempts = attempts + 1, updated_at = ?, started_at = COALESCE(started_at, ?)
            WHERE id IN (SELECT id FROM tasks WHERE state = 'queued' ORDER BY id LIMIT ?)
            RETURNING *
            """,
            (now, now, limit),
        )
        return sorted((_task(row) for row in rows), key=lambda task: task.id)

    async def claim_next_task(self) -> Task | None:
        """`claim_tasks` for one task."""
        claimed = await self.claim_tasks(1)
        return claimed[0] if claimed else None

    async def interrupted_tasks(self) -> list[Task]:
        """Tasks a previous process left between `running` and `posting`, oldest first."""
        placeholders = ",".join("?" for _ in UNFINISHED_STATES[1:])
        rows = await self._rows(
            f"SELECT * FROM tasks WHERE state IN ({placeholders}) ORDER BY id",  # noqa: S608
            [state.value for state in UNFINISHED_STATES[1:]],
        )
        return [_task(row) for row in rows]

    async def count_attempt(self, task_id: int) -> Task:
        """A start-up takes an interrupted task up again: one more attempt (claims count their own)."""
        rows = await self._rows(
            "UPDATE tasks SET attempts = attempts + 1, updated_at = ? WHERE id = ? RETURNING *",
            (self._clock(), task_id),
        )
        if not rows:
            raise KeyError(f"no task {task_id}")
        return _task(rows[0])

    async def requeue_undelivered(self, task_id: int) -> Task | None:
        """Queue an undelivered task again to post its kept files (the owner clicked *Try again*); None when
        the task is not undelivered (any more). Its attempts start again from zero."""
        rows = await self._rows(
            """
            UPDATE tasks SET state = 'queued', attempts = 0, error_code = NULL, error_message = NULL,
                finished_at = NULL, notified_at = NULL, updated_at = ?
            WHERE id = ? AND state = 'undelivered' RETURNING *
            """,
            (self._clock(), task_id),
        )
        return _task(rows[0]) if rows else None

    async def set_state(self, task_id: int, state: TaskState, *, vendor: str | None = None) -> Task:
        """Move an unfinished task to a non-final state (and record which vendor runs it)."""
        assert not state.final
        fields: dict[str, Any] = {"state": state.value}
        if vendor is not None:
            fields["vendor"] = vendor
        return await self._update(task_id, **fields)

    async def set_vendor_task(self, task_id: int, vendor_task_id: str) -> Task:
        """Record an asynchronous vendor's job id and move the task to `polling`, in one statement."""
        return await self._update(task_id, state=TaskState.POLLING.value, vendor_task_id=vendor_task_id)

    async def save_vendor_parts(self, task_id: int, parts: Iterable[StoredPart]) -> Task:
        """Record what the vendor returned and move the task to `downloading`."""
        payload = json.dumps([{"role": p.role, "url": p.url, "path": p.path, "note": p.note} for p in parts])
        return await self._update(task_id, state=TaskState.DOWNLOADING.value, vendor_parts=payload)

    async def save_results(self, task_id: int, files: Iterable[ResultFile], *, summary: str) -> Task:
        """Record the finished files on disk and move the task to `posting`."""
        payload = json.dumps([{"path": f.path, "name": f.name, "title": f.title} for f in files])
        return await self._update(
            task_id, state=TaskState.POSTING.value, result_files=payload, summary=summary
        )

    async def finish(
        self,
        task_id: int,
        state: TaskState,
        *,
        error_code: str | None = None,
        error_message: str | None = None,
        notified: bool = False,
    ) -> Task:
        """Make a task final; `notified` when its outcome is already told in the thread."""
        assert state.final
        now = self._clock()
        return await self._update(
            task_id,
            state=state.value,
            error_code=error_code,
            error_message=error_message,
            finished_at=now,
            notified_at=now if notified else None,
        )

    async def mark_notified(self, task_id: int) -> None:
        """The task's result or failure has been told in its thread."""
        await self._update(task_id, notified_at=self._clock())

    async def unnotified_final_tasks(self) -> list[Task]:
        """Final tasks whose message may still be owed to the thread (a stop came in between)."""
        rows = await self._rows(
            "SELECT * FROM tasks WHERE state IN ('done', 'failed', 'undelivered') AND notified_at IS NULL "
            "ORDER BY id"
        )
        return [_task(row) for row in rows]

    async def queue_position(self, task_id: int) -> int:
        """1 for the next task to run; 0 when the task is not queued."""
        rows = await self._rows(
            """
            SELECT CASE WHEN (SELECT state FROM tasks WHERE id = ?) = 'queued'
                   THEN (SELECT COUNT(*) FROM tasks WHERE state = 'queued' AND id <= ?) ELSE 0 END
            """,
            (task_id, task_id),
        )
        row = rows[0] if rows else None
        return int(row[0]) if row else 0

    async def delete_finished_before(self, cutoff: float) -> list[int]:
        """Forget tasks, images, event ids and armed specs older than `cutoff`; return the task ids removed."""
        rows = await self._rows(
            "DELETE FROM tasks WHERE state IN ('done', 'failed', 'cancelled', 'undelivered') AND finished_at < ? "
            "RETURNING id",
            (cutoff,),
        )
        removed = [int(row[0]) for row in rows]
        await self._rows("DELETE FROM images WHERE created_at < ?", (cutoff,))
        await self._rows("DELETE FROM seen_events WHERE seen_at < ?", (cutoff,))
        await self._rows("DELETE FROM armed_specs WHERE expires_at < ?", (self._clock(),))
        return removed

    async def has_image(self, file_id: str) -> bool:
        return bool(await self._rows("SELECT 1 FROM images WHERE file_id = ? LIMIT 1", (file_id,)))

    async def _update(self, task_id: int, **fields: Any) -> Task:
        fields["updated_at"] = self._clock()
        assignments = ", ".join(f"{name} = ?" for name in fields)
        rows = await self._rows(
            f"UPDATE tasks SET {assignments} WHERE id = ? RETURNING *",  # noqa: S608 - names are ours
            (*fields.values(), task_id),
        )
        row = rows[0] if rows else None
        if row is None:
            raise KeyError(f"no task {task_id}")
        return _task(row)

    async def tasks_for_message(self, channel_id: str, message_ts: str) -> list[Task]:
        rows = await self._rows(
            "SELECT * FROM tasks WHERE channel_id = ? AND message_ts = ? ORDER BY id",
            (channel_id, message_ts),
        )
        return [_task(row) for row in rows]

    async def user_tasks(self, user_id: str, *, unfinished: bool = False, limit: int = 10) -> list[Task]:
        """The user's tasks, newest first; only the unfinished ones when asked."""
        where = "user_id = ?"
        params: list[Any] = [user_id]
        if unfinished:
            where += f" AND state IN ({','.join('?' for _ in UNFINISHED_STATES)})"
            params.extend(state.value for state in UNFINISHED_STATES)
        rows = await self._rows(
            f"SELECT * FROM tasks WHERE {where} ORDER BY id DESC LIMIT ?",  # noqa: S608
            (*params, limit),
        )
        return [_task(row) for row in rows]

    async def queue_length(self) -> int:
        rows = await self._rows("SELECT COUNT(*) FROM tasks WHERE state = 'queued'")
        row = rows[0] if rows else None
        return int(row[0]) if row else 0

    async def request_cancel(self, user_id: str, task_id: int | None = None) -> tuple[list[Task], list[Task]]:
        """Cancel the user's unfinished tasks (or one of them). Queued ones are cancelled at once; ones
        already running are flagged and stop at their next step; a finished result being posted (`posting`)
        is not stopped. Returns (cancelled, flagged)."""
        now = self._clock()
        where = "user_id = ?"
        params: list[Any] = [user_id]
        if task_id is not None:
            where += " AND id = ?"
            params.append(task_id)
        rows = await self._rows(
            f"""
            UPDATE tasks SET state = 'cancelled', error_code = 'CANCELLED',
                error_message = 'cancelled by its owner', updated_at = ?, finished_at = ?, notified_at = ?
            WHERE {where} AND state = 'queued' RETURNING *
            """,  # noqa: S608
            (now, now, now, *params),
        )
        cancelled = [_task(row) for row in rows]
        rows = await self._rows(
            f"""
            UPDATE tasks SET cancel_requested = 1, updated_at = ?
            WHERE {where} AND cancel_requested = 0
                AND state IN ('running', 'polling', 'downloading') RETURNING *
            """,  # noqa: S608
            (now, *params),
        )
        flagged = [_task(row) for row in rows]
        self._cancel_flags.update(task.id for task in flagged)
        return cancelled, flagged

    async def cancel_requested(self, task_id: int) -> bool:
        """Whether the task's owner asked to stop it. Asked at every step, so answered from memory: the flags
        are written through by `request_cancel` and read back from the database when the store opens."""
        return task_id in self._cancel_flags

    async def set_progress_message(self, task_id: int, ts: str) -> None:
        await self._update(task_id, progress_ts=ts)

    async def message_images(self, channel_id: str, message_ts: str) -> list[ImageRecord]:
        """The images recorded for one message, in the order they were posted."""
        rows = await self._rows(
            "SELECT * FROM images WHERE channel_id = ? AND message_ts = ? ORDER BY rowid",
            (channel_id, message_ts),
        )
        return [_image(row) for row in rows]

    async def channels_set_by(self, user_id: str) -> list[ChannelSettings]:
        """The channel settings this user changed last."""
        rows = await self._rows(
            "SELECT channel_id, default_spec, auto FROM channel_settings WHERE updated_by = ? ORDER BY updated_at DESC",
            (user_id,),
        )
        return [
            ChannelSettings(
                row["channel_id"],
                default_spec=parse_spec(row["default_spec"]) if row["default_spec"] else None,
                auto=bool(row["auto"]),
            )
            for row in rows
        ]

    async def usage_since(self, since: float) -> Usage:
        """Tasks created since `since`, counted by mode and by engine (tasks that never reached one: "none")."""
        rows = await self._rows(
            "SELECT mode, COUNT(*) FROM tasks WHERE created_at >= ? GROUP BY mode ORDER BY mode", (since,)
        )
        by_mode = {row[0]: int(row[1]) for row in rows}
        rows = await self._rows(
            "SELECT COALESCE(vendor, 'none'), COUNT(*) FROM tasks WHERE created_at >= ? GROUP BY 1 ORDER BY 1",
            (since,),
        )
        by_vendor = {row[0]: int(row[1]) for row in rows}
        return Usage(by_mode, by_vendor)


async def _connect(path: Path | str) -> aiosqlite.Connection:
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


def _image(row: aiosqlite.Row) -> ImageRecord:
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


def _task(row: aiosqlite.Row) -> Task:
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
