"""Button clicks and select changes: one-click re-runs on results, and the modal's mode select."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.grammar import Mode, ParseError
from bot.domain.tasks import ImageRecord, TaskSource, TaskState
from bot.domain.text import code
from bot.slack.blocks import MODAL_MODE_ACTION, RERUN_ACTION, cutout_modal, modal_target, parse_rerun_value
from handlers.inbox import dedupe_prefix, settles
from handlers.intake import busy_text, queue_images
from handlers.services import services_of

logger = logging.getLogger(__name__)


def register(app: AsyncApp) -> None:
    app.action(re.compile(rf"^{RERUN_ACTION}_\d+$"))(on_rerun)
    app.action(MODAL_MODE_ACTION)(on_modal_mode)


@settles
async def on_rerun(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    context: AsyncBoltContext,
    client: AsyncWebClient,
) -> None:
    """A re-run button on a result or a failure: a new task on the same image with the button's spec — or,
    on a result Slack refused (`undelivered`), the kept files posted again with no new vendor call."""
    await ack()
    services = services_of(context)
    user = str(body["user"]["id"])
    try:
        task_id, spec = parse_rerun_value(str(action.get("value") or ""))
    except (ValueError, ParseError):
        logger.warning("a re-run button carried a value we do not read")
        return
    task = await services.store.get_task(task_id)
    channel = str((body.get("channel") or {}).get("id") or (task.channel_id if task else ""))
    if task is None:
        await client.chat_postEphemeral(
            channel=channel, user=user, text=f"Task #{task_id} is too old to run again; drop the image again."
        )
        return
    if task.state is TaskState.UNDELIVERED and spec == task.spec:
        if await services.store.requeue_undelivered(task.id) is not None:
            services.wake()
            await client.chat_postEphemeral(
                channel=task.channel_id,
                user=user,
                thread_ts=task.thread_ts,
                text=f"Posting the kept result of task #{task.id} again; nothing is cut or billed again.",
            )
        return
    if (busy := await busy_text(services, 1)) is not None:
        await client.chat_postEphemeral(channel=channel, user=user, thread_ts=task.thread_ts, text=busy)
        return
    image = ImageRecord(task.channel_id, task.message_ts, task.thread_ts, task.user_id, task.file)
    (new,) = await queue_images(
        services,
        [image],
        spec,
        source=TaskSource.RERUN,
        team_id=context.team_id,
        requested_by=user,
        dedupe_prefix=dedupe_prefix(context),
    ) or (None,)
    if new is not None:
        await client.chat_postEphemeral(
            channel=task.channel_id,
            user=user,
            thread_ts=task.thread_ts,
            text=f"Running `{spec.words()}` on {code(task.file.name)} (task #{new.id}); the results will be in this thread.",
        )


async def on_modal_mode(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    context: AsyncBoltContext,
    client: AsyncWebClient,
) -> None:
    """The mode changed in the "Cut out image" modal: show that mode's options instead."""
    await ack()
    services = services_of(context)
    view = body["view"]
    mode = Mode(action["selected_option"]["value"])
    channel_id, message_ts = modal_target(view["private_metadata"])
    images = await services.store.message_images(channel_id, message_ts)
    await client.views_update(
        view_id=view["id"],
        hash=view.get("hash"),
        view=cutout_modal(mode, images, channel_id=channel_id, message_ts=message_ts),
    )
