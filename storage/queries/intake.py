"""Images people posted, Slack event ids already handled, and the inbox of requests recorded
before Slack's acknowledgement."""

from __future__ import annotations

import json
from typing import Any

from bot.domain.tasks import (
    ImageRecord,
    InboxEntry,
)
from storage.queries.base import Database
from storage.rows import image_of


class IntakeQueries(Database):
    async def record_image(self, image: ImageRecord) -> None:
        await self._rows(
            """
            INSERT INTO images
                (channel_id, message_ts, file_id, thread_ts, user_id, name, mimetype, url, size, external,
                 created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT DO NOTHING
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
        return [image_of(row) for row in rows]

    async def message_images(self, channel_id: str, message_ts: str) -> list[ImageRecord]:
        """The images recorded for one message, in the order they were posted."""
        rows = await self._rows(
            "SELECT * FROM images WHERE channel_id = ? AND message_ts = ? ORDER BY rowid",
            (channel_id, message_ts),
        )
        return [image_of(row) for row in rows]

    async def has_image(self, file_id: str) -> bool:
        return bool(await self._rows("SELECT 1 FROM images WHERE file_id = ? LIMIT 1", (file_id,)))

    async def event_seen(self, event_id: str) -> bool:
        """Whether a Slack event with this id was already handled (Slack delivers at least once)."""
        return bool(await self._rows("SELECT 1 FROM seen_events WHERE event_id = ?", (event_id,)))

    async def mark_event(self, event_id: str) -> None:
        """Record an event as handled — after its work is recorded, so a crash before that loses nothing."""
        await self._rows(
            "INSERT INTO seen_events (event_id, seen_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (event_id, self._clock()),
        )

    async def inbox_add(self, body: dict[str, Any]) -> int:
        """Record a request that may queue work; returns its id. Call before Slack is acknowledged."""
        rows = await self._rows(
            "INSERT INTO inbox (body, received_at) VALUES (?, ?) RETURNING id",
            (json.dumps(body, separators=(",", ":")), self._clock()),
            intake=True,
        )
        return int(rows[0][0])

    async def inbox_settle(self, entry_id: int) -> None:
        """The request's work is recorded (or it needed none): it will not be replayed."""
        await self._rows("DELETE FROM inbox WHERE id = ?", (entry_id,))

    async def inbox_entries(self) -> list[InboxEntry]:
        """The requests recorded and not yet settled, oldest first (a read: nothing is counted)."""
        rows = await self._rows("SELECT id, body, attempts FROM inbox ORDER BY id")
        return [InboxEntry(int(row[0]), json.loads(row[1]), int(row[2])) for row in rows]

    async def inbox_to_replay(self, older_than_s: float) -> list[InboxEntry]:
        """Requests recorded at least `older_than_s` ago and still not settled — their instance stopped before
        it recorded their work — oldest first. Each is counted as one more replay and held for this instance
        for another `older_than_s` (its time is reset), so two instances never replay it at once."""
        now = self._clock()
        rows = await self._rows(
            f"""
            UPDATE inbox SET attempts = attempts + 1, received_at = ?
            WHERE id IN (SELECT id FROM inbox WHERE received_at <= ? ORDER BY id{self.SKIP_LOCKED})
            RETURNING id, body, attempts
            """,  # noqa: S608 - SKIP_LOCKED is ours
            (now, now - older_than_s),
        )
        return sorted(
            (InboxEntry(int(row[0]), json.loads(row[1]), int(row[2])) for row in rows),
            key=lambda entry: entry.id,
        )
