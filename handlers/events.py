"""Event listeners: an image dropped into a channel becomes tasks (DESIGN §3 rules 1, 3, 4).

Slack delivers events at least once: an event id already handled is skipped, and ids are marked only
after their work is recorded, so a crash in between loses nothing (task dedupe keys absorb the rest).
One upload may arrive as `message`/`file_share` and as `file_shared`: both lead to the same task key
per file, so each file makes one task.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.grammar import ParseError, parse_thread_reply
from bot.domain.tasks import TaskSource
from bot.domain.text import from_slack, mrkdwn
from bot.domain.usage import Period, period_start
from bot.slack.blocks import home_view
from handlers.inbox import settles
from handlers.intake import (
    MAX_FILES_PER_MESSAGE,
    Upload,
    busy_text,
    intake_upload,
    queue_images,
    thread_reply_text,
)
from handlers.links import thread_link
from handlers.services import Services, services_of

logger = logging.getLogger(__name__)

USAGE_WINDOW_S = 30 * 86400


def register(app: AsyncApp) -> None:
    app.event({"type": "message", "subtype": "file_share"})(on_file_share)
    app.event("message")(on_other_message)
    app.event("file_shared")(on_file_shared)
    app.event("app_home_opened")(on_app_home_opened)


@settles
async def on_file_share(
    event: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
) -> None:
    """Record the message's images, then queue one task per image with the spec that applies."""
    services = services_of(context)
    if await _handled_before(services, body):
        return
    event = await _with_file_info(client, event)
    await intake_upload(
        services, Upload.from_event(event, team_id=context.team_id, bot_user_id=context.bot_user_id), client
    )
    await _mark_handled(services, body)


@settles
async def on_file_shared(
    event: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
) -> None:
    """The same upload seen from the file's side: used only when the message event did not come."""
    services = services_of(context)
    if await _handled_before(services, body):
        return
    await asyncio.sleep(services.file_shared_wait_s)
    file_id = str(event.get("file_id") or (event.get("file") or {}).get("id") or "")
    if file_id and not await services.store.has_image(file_id):
        upload = await _upload_of_shared_file(
            client, event, file_id, team_id=context.team_id, bot_user_id=context.bot_user_id
        )
        if upload is not None:
            logger.info("file %s came only as file_shared; taken from its message", file_id)
            await intake_upload(services, upload, client)
    await _mark_handled(services, body)


@settles
async def on_other_message(
    event: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
) -> None:
    """A reply in an image's thread that is a spec runs on that message's images (rule 6); everything else
    — chat, edits, deletions — is acknowledged so Slack does not retry, and left alone."""
    text, thread_ts = thread_reply_text(event), event.get("thread_ts")
    if text is None:
        return
    services = services_of(context)
    if await _handled_before(services, body):
        return
    channel, user = str(event["channel"]), str(event["user"])
    try:
        spec = parse_thread_reply(from_slack(text), bot_user_id=context.bot_user_id)
    except ParseError as error:
        await client.chat_postEphemeral(
            channel=channel, user=user, thread_ts=thread_ts, text=mrkdwn(error.message)
        )
        spec = None
    images = await services.store.message_images(channel, str(thread_ts)) if spec else []
    if spec and images:
        if (busy := await busy_text(services, len(images))) is not None:
            await client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread_ts, text=busy)
        else:
            tasks = await queue_images(
                services,
                images,
                spec,
                source=TaskSource.THREAD,
                team_id=context.team_id,
                requested_by=user,
                dedupe_prefix=f"reply{event.get('ts')}",
            )
            logger.info("thread reply in %s: %s on %d image(s)", channel, spec.words(), len(tasks))
    await _mark_handled(services, body)


async def on_app_home_opened(
    event: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
) -> None:
    """Publish the App Home: what the bot does, your recent tasks, your channel defaults, vendors, usage."""
    if event.get("tab") not in (None, "home"):
        return
    services = services_of(context)
    user = str(event["user"])
    store = services.store
    tasks = await store.user_tasks(user, limit=10)
    links = [await thread_link(client, task.channel_id, task.thread_ts) for task in tasks]
    view = home_view(
        tasks=list(zip(tasks, links, strict=True)),
        channels=await store.channels_set_by(user),
        engines=services.engines,
        local_engine=services.local_engine,
        usage=await store.usage_since(time.time() - USAGE_WINDOW_S),
        spending=(
            await store.usage_report(period_start(Period.MONTH, time.time())),
            services.config.prices,
        ),
    )
    await client.views_publish(user_id=user, view=view)


async def _handled_before(services: Services, body: dict[str, Any]) -> bool:
    event_id = body.get("event_id")
    if event_id and await services.store.event_seen(str(event_id)):
        logger.info("event %s delivered again; already handled", event_id)
        return True
    return False


async def _mark_handled(services: Services, body: dict[str, Any]) -> None:
    if body.get("event_id"):
        await services.store.mark_event(str(body["event_id"]))


async def _with_file_info(client: AsyncWebClient, event: dict[str, Any]) -> dict[str, Any]:
    """The event with Slack Connect stubs (`file_access: check_file_info`, no name or URL) replaced by the
    file objects `files.info` gives."""
    files = event.get("files") or []
    if not any(isinstance(f, dict) and f.get("file_access") == "check_file_info" for f in files):
        return event
    resolved = []
    for file in files[:MAX_FILES_PER_MESSAGE]:
        if isinstance(file, dict) and file.get("file_access") == "check_file_info" and file.get("id"):
            try:
                file = (await client.files_info(file=str(file["id"])))["file"]
            except SlackApiError as error:
                code = error.response.get("error") if error.response is not None else None
                logger.warning("could not resolve Slack Connect file %s: %s", file.get("id"), code)
        resolved.append(file)
    return {**event, "files": resolved}


async def _upload_of_shared_file(
    client: AsyncWebClient,
    event: dict[str, Any],
    file_id: str,
    *,
    team_id: str | None,
    bot_user_id: str | None,
) -> Upload | None:
    """Rebuild the upload's message from `files.info` and the message it was shared in."""
    channel = str(event.get("channel_id") or "")
    try:
        info = await client.files_info(file=file_id)
        file = info["file"]
        shares = file.get("shares") or {}
        share = next(
            (entry for kind in ("public", "private") for entry in (shares.get(kind) or {}).get(channel, [])),
            None,
        )
        if share is None:
            return None
        ts, thread_ts = str(share["ts"]), share.get("thread_ts")
        if thread_ts:
            page = await client.conversations_replies(channel=channel, ts=thread_ts, limit=200)
        else:
            page = await client.conversations_history(channel=channel, latest=ts, inclusive=True, limit=1)
        message = next((m for m in page.get("messages") or [] if m.get("ts") == ts), None)
    except SlackApiError as error:
        code = error.response.get("error") if error.response is not None else None
        logger.warning("could not resolve file_shared %s: %s", file_id, code)
        return None
    if message is None:
        return None
    shaped = {
        "channel": channel,
        "channel_type": "im" if channel.startswith("D") else "channel",
        "user": message.get("user") or event.get("user_id"),
        "ts": ts,
        "text": message.get("text") or "",
        "files": message.get("files") or [file],
    }
    if thread_ts:
        shaped["thread_ts"] = thread_ts
    return Upload.from_event(shaped, team_id=team_id, bot_user_id=bot_user_id)
