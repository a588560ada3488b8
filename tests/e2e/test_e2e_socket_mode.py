"""Socket Mode: `apps.connections.open` → a local websocket that sends envelopes and expects acks."""

from __future__ import annotations

from pathlib import Path

from bot.config import Config
from bot.server import Bot
from fakes.images import jpeg_bytes
from fakes.net import wait_for
from tests.e2e.harness import Fakes


async def test_socket_mode_acks_envelopes_and_runs_commands_and_uploads(tmp_path: Path) -> None:
    fakes = await Fakes.start()
    slack, ailab = fakes.slack, fakes.ailab
    environment = fakes.environment(tmp_path, SLACK_APP_TOKEN=slack.app_token)
    del environment["SLACK_SIGNING_SECRET"]  # Socket Mode needs none
    bot = Bot(Config.from_env(environment, env_file=None))
    try:
        await bot.start()
        assert bot.port is None  # no HTTP listener in Socket Mode
        assert len(slack.calls_to("apps.connections.open")) == 1  # answered only for the xapp- bearer token

        command = slack.command_payload("portrait mask")
        ack = await slack.socket_send(
            {
                "envelope_id": "env-1",
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": command,
            }
        )
        assert ack["envelope_id"] == "env-1"
        (reply,) = await wait_for(lambda: slack.responses, what="the ephemeral reply")
        assert "Armed `portrait mask`" in reply["text"]

        event = slack.image_message([slack.host_file("me.jpg", jpeg_bytes())])
        ack = await slack.socket_send(
            {
                "envelope_id": "env-2",
                "type": "events_api",
                "accepts_response_payload": False,
                "retry_attempt": 0,
                "retry_reason": "",
                "payload": slack.event_envelope(event),
            }
        )
        assert ack["envelope_id"] == "env-2"
        (posted,) = await wait_for(lambda: slack.file_messages, what="the result in the thread")
        assert posted.thread_ts == event["ts"]
        assert posted.files[0].filename == "me-portrait-mask.png"
        assert ailab.requests[0].fields == {"return_form": "mask"}
    finally:
        await bot.stop(grace_s=2)
        await fakes.stop()
