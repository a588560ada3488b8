"""Rows made into the dataclasses of bot.domain.tasks, for both databases: a row is read by column name
(or by position), as SQLite's and our PostgreSQL row type both allow."""

from __future__ import annotations

import json
from typing import Any, Protocol

from bot.domain.grammar import parse_spec
from bot.domain.tasks import ImageRecord, ResultFile, SourceFile, StoredPart, Task, TaskSource, TaskState


class Row(Protocol):
    def __getitem__(self, key: Any, /) -> Any: ...

    def keys(self) -> Any: ...


def image_of(row: Row) -> ImageRecord:
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


def task_of(row: Row) -> Task:
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
        owner=row["owner"],
        lease_until=row["lease_until"],
        claim=row["claim"],
    )
