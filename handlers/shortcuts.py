"""The message shortcut "Cut out image" (DESIGN §3 rule 7): a modal for the message's images."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.blocks import cutout_modal
from handlers.intake import Upload
from handlers.services import services_of

SHORTCUT_CALLBACK = "cutout_message"


def register(app: AsyncApp) -> None:
    app.shortcut(SHORTCUT_CALLBACK)(on_cutout_message)


async def on_cutout_message(
    ack: AsyncAck,
    shortcut: dict[str, Any],
    context: AsyncBoltContext,
    client: AsyncWebClient,
    respond: AsyncRespond,
) -> None:
    await ack()
    services = services_of(context)
    channel_id = str(shortcut["channel"]["id"])
    message = {**shortcut["message"], "channel": channel_id}
    upload = Upload.from_event(message, team_id=context.team_id, bot_user_id=context.bot_user_id)
    if not upload.images:
        await respond(
            text="That message has no image to cut out. Use *Cut out image* on a message with a photo, "
            "or drop a photo here with a spec such as `apparel tops whiteBK`.",
            response_type="ephemeral",
        )
        return
    settings = await services.store.channel_settings(channel_id)
    mode = (settings.default_spec or services.config.default_spec).mode
    records = upload.image_records()
    # The trigger is good for 3 seconds: open the modal first, then record the images it offers.
    await client.views_open(
        trigger_id=shortcut["trigger_id"],
        view=cutout_modal(mode, records, channel_id=channel_id, message_ts=upload.message_ts),
    )
    for record in records:
        await services.store.record_image(record)
