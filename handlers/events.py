"""Event listeners: an image dropped into a channel becomes tasks (DESIGN §3 rules 1, 3, 4)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.grammar import ParseError, parse_upload_text
from bot.services import services_of
from handlers.intake import Upload, queue_images, spec_for_upload

logger = logging.getLogger(__name__)


def register(app: AsyncApp) -> None:
    app.event({"type": "message", "subtype": "file_share"})(on_file_share)
    app.event("message")(on_other_message)


async def on_file_share(event: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient) -> None:
    """Record the message's images, then queue one task per image with the spec that applies."""
    services = services_of(context)
    upload = Upload.from_event(event, team_id=context.team_id)
    if not upload.images or not upload.user_id:
        return
    for record in upload.image_records():
        await services.store.record_image(record)
    try:
        typed = parse_upload_text(upload.text)
    except ParseError as error:
        logger.info("upload in %s by %s: invalid spec (%s)", upload.channel_id, upload.user_id, error.word)
        await client.chat_postEphemeral(
            channel=upload.channel_id,
            user=upload.user_id,
            thread_ts=upload.thread_ts if upload.in_thread else None,
            text=f"{error.message}\nNothing was queued for your image. "
            "Type `/cutout <mode> …` here within 10 minutes to run it on this image.",
        )
        return
    chosen = await spec_for_upload(services, upload, typed)
    if chosen is None:
        return
    spec, source = chosen
    tasks = await queue_images(
        services,
        upload.image_records(),
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


async def on_other_message(event: dict[str, Any]) -> None:
    """Ordinary chat, edits and deletions: nothing to do, but acknowledged so Slack does not retry."""
