"""From Slack payloads to recorded images and queued tasks (DESIGN §3). No vendor is ever called here."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.grammar import ParseError, Spec, parse_upload_text
from bot.domain.tasks import ImageRecord, NewTask, SourceFile, Task, TaskSource
from bot.domain.text import from_slack, mrkdwn
from handlers.services import Services

logger = logging.getLogger(__name__)

MAX_FILES_PER_MESSAGE = 10
RECENT_IMAGE_S = 600.0  # rule 2: "an image in the last 10 minutes"
ARMED_TTL_S = 600.0  # rule 3: "the user's next image … within 10 minutes"


@dataclass(frozen=True, slots=True)
class Upload:
    """A `message`/`file_share` event, reduced to what intake needs."""

    team_id: str | None
    channel_id: str
    channel_type: str
    user_id: str
    message_ts: str
    thread_ts: str  # where replies go: the thread the image was posted in, else the message itself
    in_thread: bool
    text: str
    images: tuple[SourceFile, ...]
    others: tuple[SourceFile, ...] = ()  # files that are not images (by Slack's mimetype)
    bot_user_id: str | None = None  # the bot's own user: a caption mentioning anyone else is talk

    @classmethod
    def from_event(
        cls, event: dict[str, Any], *, team_id: str | None, bot_user_id: str | None = None
    ) -> Upload:
        files = [
            SourceFile(
                file_id=str(f["id"]),
                name=str(f.get("name") or f.get("title") or f["id"]),
                mimetype=str(f.get("mimetype") or ""),
                url=str(f.get("url_private_download") or f.get("url_private") or ""),
                size=f.get("size") if isinstance(f.get("size"), int) else None,
                external=_external(f),
            )
            for f in (event.get("files") or [])[:MAX_FILES_PER_MESSAGE]
            if isinstance(f, dict) and f.get("id")
        ]
        return cls(
            team_id=team_id,
            bot_user_id=bot_user_id,
            channel_id=str(event["channel"]),
            channel_type=str(event.get("channel_type") or ""),
            user_id=str(event.get("user") or ""),
            message_ts=str(event["ts"]),
            thread_ts=str(event.get("thread_ts") or event["ts"]),
            in_thread=bool(event.get("thread_ts")),
            text=from_slack(str(event.get("text") or "")),
            images=tuple(f for f in files if f.mimetype.startswith("image/")),
            others=tuple(f for f in files if not f.mimetype.startswith("image/")),
        )

    def image_records(self) -> list[ImageRecord]:
        return self._records(self.images)

    def all_records(self) -> list[ImageRecord]:
        """Every file, images first: what a user who typed or armed a spec asked the bot to try."""
        return self._records((*self.images, *self.others))

    def _records(self, files: tuple[SourceFile, ...]) -> list[ImageRecord]:
        return [ImageRecord(self.channel_id, self.message_ts, self.thread_ts, self.user_id, f) for f in files]


def thread_reply_text(event: dict[str, Any]) -> str | None:
    """The text of a person's reply in a thread (rule 6), or None for anything else: top-level messages,
    edits and other subtypes, empty text, messages with no user."""
    thread_ts, text = event.get("thread_ts"), str(event.get("text") or "")
    if (
        event.get("subtype")
        or not thread_ts
        or thread_ts == event.get("ts")
        or not text
        or not event.get("user")
    ):
        return None
    return text


def _external(file: dict[str, Any]) -> str | None:
    """Where a file lives when Slack only links to it (`mode: external`): Slack's `external_type`."""
    if file.get("mode") == "external" or file.get("is_external"):
        return str(file.get("external_type") or "unknown")
    return None


async def queue_images(
    services: Services,
    images: list[ImageRecord],
    spec: Spec,
    *,
    source: TaskSource,
    team_id: str | None,
    requested_by: str,
    dedupe_prefix: str | None = None,
) -> list[Task]:
    """One task per image; with `dedupe_prefix`, a redelivered trigger makes no second task."""
    tasks: list[Task] = []
    for image in images:
        key = (
            f"{dedupe_prefix}:{image.channel_id}:{image.message_ts}:{image.file.file_id}"
            if dedupe_prefix
            else None
        )
        task = await services.store.create_task(
            NewTask(
                team_id=team_id,
                channel_id=image.channel_id,
                user_id=requested_by,
                message_ts=image.message_ts,
                thread_ts=image.thread_ts,
                file=image.file,
                spec=spec,
                source=source,
                dedupe_key=key,
            )
        )
        if task is not None:
            tasks.append(task)
    if tasks:
        services.wake()
    return tasks


async def spec_for_upload(
    services: Services, upload: Upload, typed: Spec | None
) -> tuple[Spec, TaskSource] | None:
    """Rules 1, 3 and 4: the typed spec, else the user's armed spec, else the channel's default if auto is on."""
    if typed is not None:
        return typed, TaskSource.UPLOAD
    armed = await services.store.take_armed_spec(upload.channel_id, upload.user_id)
    if armed is not None:
        return armed, TaskSource.ARMED
    settings = await services.store.channel_settings(upload.channel_id)
    if upload.channel_type == "im" or settings.auto:
        return settings.default_spec or services.config.default_spec, TaskSource.DEFAULT
    return None


async def intake_upload(services: Services, upload: Upload, client: AsyncWebClient) -> list[Task]:
    """Record an upload's images and queue a task per image with the spec that applies (rules 1, 3, 4).

    When the user asked — a spec typed with the upload, or armed — a file that is not an image becomes
    a task too, which fails with a message saying what the file is; images dropped for the channel
    default leave other files alone, silently."""
    if not (upload.images or upload.others) or not upload.user_id:
        return []
    for record in upload.image_records():
        await services.store.record_image(record)
    try:
        typed = parse_upload_text(upload.text, bot_user_id=upload.bot_user_id)
    except ParseError as error:
        logger.info("upload in %s by %s: invalid spec (%s)", upload.channel_id, upload.user_id, error.word)
        await _tell(
            client,
            upload,
            f"{mrkdwn(error.message)}\nNothing was queued for your image. "
            "Type `/cutout <mode> …` here within 10 minutes to run it on this image.",
        )
        return []
    if typed is None and not upload.images:
        return []  # other files shared without a spec: ordinary sharing, and an armed spec waits for an image
    chosen = await spec_for_upload(services, upload, typed)
    if chosen is None:
        return []
    spec, source = chosen
    records = upload.image_records() if source is TaskSource.DEFAULT else upload.all_records()
    if not records:
        return []
    if (busy := await busy_text(services, len(records))) is not None:
        await _tell(client, upload, busy)
        return []
    tasks = await queue_images(
        services,
        records,
        spec,
        source=source,
        team_id=upload.team_id,
        requested_by=upload.user_id,
        dedupe_prefix="upload",
    )
    logger.info(
        "upload in %s: %d image(s), %s (%s), %d task(s) queued",
        upload.channel_id,
        len(upload.images),
        spec.words(),
        source,
        len(tasks),
    )
    if tasks and (line := await queue_line_text(services, tasks)) is not None:
        await _tell(client, upload, line)
    return tasks


async def busy_text(services: Services, wanted: int) -> str | None:
    """The message for a full queue, or None when there is room for `wanted` more tasks."""
    waiting = await services.store.queue_length()
    if waiting + wanted <= services.config.max_queue:
        return None
    return (
        f"The bot is busy: {waiting} images are waiting already. Nothing was queued for yours; "
        "try again in a few minutes."
    )


async def queue_line_text(services: Services, tasks: list[Task]) -> str | None:
    """Where the last of `tasks` stands in line, when it will wait behind others; else None."""
    position = await services.store.queue_position(tasks[-1].id)
    if position <= services.config.workers:
        return None
    return f"Queued: number {position} in line. The results will come in the image's thread."


async def _tell(client: AsyncWebClient, upload: Upload, text: str) -> None:
    await client.chat_postEphemeral(
        channel=upload.channel_id,
        user=upload.user_id,
        thread_ts=upload.thread_ts if upload.in_thread else None,
        text=text,
    )
