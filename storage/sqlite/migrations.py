"""SQLite's schema migrations: named, ordered, each applied together with its record in one transaction
(taken with BEGIN IMMEDIATE, and checked again inside it, so two processes opening the file at once
apply each migration once). PostgreSQL's are in storage/postgres/migrations.py: a change to the schema is
made in both.

Never edit a migration that has shipped; add a new one at the end.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import aiosqlite

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "0001_initial",
        (
            """
            CREATE TABLE tasks (
                id              INTEGER PRIMARY KEY AUTOINCREMENT,
                team_id         TEXT,
                channel_id      TEXT    NOT NULL,
                user_id         TEXT    NOT NULL,
                message_ts      TEXT    NOT NULL,
                thread_ts       TEXT    NOT NULL,
                file_id         TEXT    NOT NULL,
                file_name       TEXT    NOT NULL,
                file_mimetype   TEXT    NOT NULL,
                file_url        TEXT    NOT NULL,
                file_size       INTEGER,
                spec            TEXT    NOT NULL,
                mode            TEXT    NOT NULL,
                source          TEXT    NOT NULL,
                dedupe_key      TEXT    UNIQUE,
                state           TEXT    NOT NULL DEFAULT 'queued',
                vendor          TEXT,
                attempts        INTEGER NOT NULL DEFAULT 0,
                vendor_task_id  TEXT,
                error_code      TEXT,
                error_message   TEXT,
                result_files    TEXT    NOT NULL DEFAULT '[]',
                summary         TEXT,
                created_at      REAL    NOT NULL,
                updated_at      REAL    NOT NULL,
                started_at      REAL,
                finished_at     REAL
            )
            """,
            "CREATE INDEX tasks_by_state ON tasks (state, id)",
            "CREATE INDEX tasks_by_user ON tasks (user_id, id)",
            "CREATE INDEX tasks_by_message ON tasks (channel_id, message_ts)",
            """
            CREATE TABLE images (
                channel_id  TEXT NOT NULL,
                message_ts  TEXT NOT NULL,
                file_id     TEXT NOT NULL,
                thread_ts   TEXT NOT NULL,
                user_id     TEXT NOT NULL,
                name        TEXT NOT NULL,
                mimetype    TEXT NOT NULL,
                url         TEXT NOT NULL,
                size        INTEGER,
                created_at  REAL NOT NULL,
                PRIMARY KEY (channel_id, message_ts, file_id)
            )
            """,
            "CREATE INDEX images_by_user ON images (channel_id, user_id, created_at)",
            """
            CREATE TABLE armed_specs (
                channel_id  TEXT NOT NULL,
                user_id     TEXT NOT NULL,
                spec        TEXT NOT NULL,
                armed_at    REAL NOT NULL,
                expires_at  REAL NOT NULL,
                PRIMARY KEY (channel_id, user_id)
            )
            """,
            """
            CREATE TABLE channel_settings (
                channel_id    TEXT PRIMARY KEY,
                default_spec  TEXT,
                auto          INTEGER NOT NULL DEFAULT 1,
                updated_by    TEXT,
                updated_at    REAL NOT NULL
            )
            """,
            """
            CREATE TABLE seen_events (
                event_id  TEXT PRIMARY KEY,
                seen_at   REAL NOT NULL
            )
            """,
        ),
    ),
    Migration(
        "0002_resumable_steps",
        (
            # What the vendor returned (role, URL or a file already on disk), so a restart in `downloading`
            # fetches the results again instead of calling the vendor again.
            "ALTER TABLE tasks ADD COLUMN vendor_parts TEXT",
            # When the task's result or failure was told in the thread; NULL on a final task means
            # the message may still be owed (checked against the thread at start-up).
            "ALTER TABLE tasks ADD COLUMN notified_at REAL",
            "CREATE INDEX tasks_by_finish ON tasks (finished_at)",
            "CREATE INDEX images_by_age ON images (created_at)",
            "CREATE INDEX seen_events_by_age ON seen_events (seen_at)",
        ),
    ),
    Migration(
        "0003_progress_and_cancel",
        (
            # The thread message a long task keeps up to date with its progress.
            "ALTER TABLE tasks ADD COLUMN progress_ts TEXT",
            # Set by `/cutout cancel` on a task already past `queued`: the runner stops at its next step.
            "ALTER TABLE tasks ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0",
            "CREATE INDEX tasks_by_created ON tasks (created_at)",
            "CREATE INDEX channel_settings_by_user ON channel_settings (updated_by)",
        ),
    ),
    Migration(
        "0004_inbox",
        (
            # Slack requests that may queue work, written before Slack is acknowledged and removed once
            # their work is recorded: a process killed in between replays them at the next start.
            """
            CREATE TABLE inbox (
                id           INTEGER PRIMARY KEY AUTOINCREMENT,
                body         TEXT    NOT NULL,
                received_at  REAL    NOT NULL,
                attempts     INTEGER NOT NULL DEFAULT 0
            )
            """,
            # A file Slack only links to (Google Drive, Dropbox…): Slack's `external_type`. Never fetched.
            "ALTER TABLE images ADD COLUMN external TEXT",
            "ALTER TABLE tasks ADD COLUMN file_external TEXT",
        ),
    ),
    Migration(
        "0005_leases",
        (
            # The instance working on a task, and until when: another may take it over after that.
            "ALTER TABLE tasks ADD COLUMN owner TEXT",
            "ALTER TABLE tasks ADD COLUMN lease_until REAL",
            "CREATE INDEX tasks_by_lease ON tasks (lease_until)",
            "CREATE INDEX inbox_by_age ON inbox (received_at)",
        ),
    ),
    Migration(
        "0006_claims",
        (
            # Counts the claims of a task; the claim a worker holds fences its writes, so a worker whose
            # lease ran out changes nothing once the task is claimed again — by another instance or its own.
            "ALTER TABLE tasks ADD COLUMN claim INTEGER NOT NULL DEFAULT 0",
        ),
    ),
    Migration(
        "0007_channel_presets",
        (
            # The marketplace presets a channel's results were laid out for, and when last: the result
            # messages offer the newest as re-run buttons.
            """
            CREATE TABLE channel_presets (
                channel_id TEXT NOT NULL,
                preset     TEXT NOT NULL,
                used_at    REAL NOT NULL,
                PRIMARY KEY (channel_id, preset)
            )
            """,
        ),
    ),
    Migration(
        "0008_routing_and_limits",
        (
            # A vendor left out of the routes for a while (no credits, a bad key): until when, why, and until
            # when one task probes it again.
            """
            CREATE TABLE vendor_breakers (
                vendor      TEXT PRIMARY KEY,
                open_until  REAL NOT NULL,
                reason      TEXT NOT NULL,
                probe_until REAL
            )
            """,
            # One row per task sent to a paid vendor: what limits count and usage reports.
            """
            CREATE TABLE usage (
                task_id    INTEGER PRIMARY KEY,
                vendor     TEXT NOT NULL,
                channel_id TEXT NOT NULL,
                user_id    TEXT NOT NULL,
                at         REAL NOT NULL
            )
            """,
            "CREATE INDEX usage_by_time ON usage (at)",
            # Limits on images sent to paid vendors: scope channel|workspace|user, its target (a channel or
            # user id; '*' for the workspace), a period (day|month, UTC) and the number of images.
            """
            CREATE TABLE usage_limits (
                scope      TEXT NOT NULL,
                target     TEXT NOT NULL,
                period     TEXT NOT NULL,
                max_images INTEGER NOT NULL,
                set_by     TEXT NOT NULL,
                set_at     REAL NOT NULL,
                PRIMARY KEY (scope, target)
            )
            """,
        ),
    ),
)


async def apply_migrations(
    db: aiosqlite.Connection, migrations: tuple[Migration, ...] = MIGRATIONS
) -> list[str]:
    """Apply the migrations not yet recorded; return their names. `db` must be in autocommit mode."""
    await db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
    )
    async with db.execute("SELECT name FROM _migrations") as cursor:
        done = {row[0] for row in await cursor.fetchall()}
    applied: list[str] = []
    for migration in migrations:
        if migration.name in done:
            continue
        await db.execute("BEGIN IMMEDIATE")
        try:
            async with db.execute("SELECT 1 FROM _migrations WHERE name = ?", (migration.name,)) as cursor:
                if await cursor.fetchone() is not None:  # another process applied it meanwhile
                    await db.execute("ROLLBACK")
                    continue
            for statement in migration.statements:
                await db.execute(statement)
            await db.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (migration.name, time.time())
            )
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        await db.execute("COMMIT")
        logger.info("applied migration %s", migration.name)
        applied.append(migration.name)
    return applied
