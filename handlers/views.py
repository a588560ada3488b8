"""Modal submissions: the "Cut out image" modal queues its tasks, replies going to the message's thread."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.grammar import ParseError, parse_spec
from bot.domain.tasks import TaskSource
from bot.slack.blocks import MODAL_CALLBACK, modal_images, modal_target, modal_words
from handlers.inbox import dedupe_prefix, settles
from handlers.intake import busy_text, queue_images
from handlers.services import services_of


def register(app: AsyncApp) -> None:
    app.view(MODAL_CALLBACK)(on_cutout_modal)


@settles
async def on_cutout_modal(
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    context: AsyncBoltContext,
    client: AsyncWebClient,
) -> None:
    values = view["state"]["values"]
    try:
        spec = parse_spec(modal_words(values))
    except ParseError as error:
        await ack(response_action="errors", errors={"size" if "size" in values else "mode": error.message})
        return
    selected = modal_images(values)
    if not selected:
        await ack(response_action="errors", errors={"images": "Choose at least one image."})
        return
    await ack()
    services = services_of(context)
    user = str(body["user"]["id"])
    channel_id, message_ts = modal_target(view["private_metadata"])
    images = [
        i for i in await services.store.message_images(channel_id, message_ts) if i.file.file_id in selected
    ]
    if not images:
        return
    if (busy := await busy_text(services, len(images))) is not None:
        await client.chat_postEphemeral(channel=channel_id, user=user, text=busy)
        return
    tasks = await queue_images(
        services,
        images,
        spec,
        source=TaskSource.SHORTCUT,
        team_id=context.team_id,
        requested_by=user,
        dedupe_prefix=dedupe_prefix(context),
    )
    numbers = ", ".join(f"#{t.id}" for t in tasks)
    await client.chat_postEphemeral(
        channel=channel_id,
        user=user,
        thread_ts=images[0].thread_ts,
        text=f"Running `{spec.words()}` on {len(tasks)} image(s) (task {numbers}); the results will be in the thread.",
    )
