"""Slack delivers at least once; the bot acts once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Config
from bot.server import Bot
from fakes.images import jpeg_bytes
from fakes.net import wait_for
from tests.e2e.harness import Fakes, Harness, running_bot


@pytest.fixture
async def harness(tmp_path):
    """The bot with `file_shared` waiting 0.2 s (not 3 s) for the message event."""
    async with running_bot(tmp_path, file_shared_wait_s=0.2) as running:
        yield running


async def test_a_retried_event_runs_once(harness: Harness) -> None:
    slack = harness.slack
    event = slack.image_message([slack.host_file("r.jpg", jpeg_bytes())], text="apparel")
    assert await slack.send_event(harness.bot_url, event, event_id="Ev0RETRY") == 200
    await wait_for(lambda: slack.file_messages, what="the result")
    assert await slack.send_event(harness.bot_url, event, event_id="Ev0RETRY", retry_num=1) == 200
    assert await slack.send_event(harness.bot_url, event, event_id="Ev0RETRY", retry_num=2) == 200
    await harness.bot.runner.run_until_idle()  # type: ignore[union-attr]
    assert len(await harness.store.tasks_for_message(event["channel"], event["ts"])) == 1
    assert len(harness.ailab.requests) == 1
    assert len(slack.file_messages) == 1


async def test_a_redelivery_with_a_new_event_id_still_makes_one_task_per_file(harness: Harness) -> None:
    slack = harness.slack
    event = slack.image_message([slack.host_file("n.jpg", jpeg_bytes())], text="apparel")
    await slack.send_event(harness.bot_url, event, event_id="Ev0ONE")
    await slack.send_event(harness.bot_url, event, event_id="Ev0TWO")
    await wait_for(lambda: slack.file_messages, what="the result")
    await harness.bot.runner.run_until_idle()  # type: ignore[union-attr]
    assert len(await harness.store.tasks_for_message(event["channel"], event["ts"])) == 1
    assert len(slack.file_messages) == 1


async def test_file_share_and_file_shared_of_one_upload_make_one_task_per_file(harness: Harness) -> None:
    slack = harness.slack
    files = [slack.host_file("a.jpg", jpeg_bytes()), slack.host_file("b.jpg", jpeg_bytes())]
    event = slack.image_message(files, text="portrait mask")
    for file in files:  # file_shared may come first
        assert await slack.send_event(harness.bot_url, slack.file_shared_event(event, file)) == 200
    assert await slack.send_event(harness.bot_url, event) == 200
    await wait_for(lambda: len(slack.file_messages) == 2, what="two results")
    await harness.bot.runner.run_until_idle()  # type: ignore[union-attr]
    tasks = await harness.store.tasks_for_message(event["channel"], event["ts"])
    assert sorted(t.file.name for t in tasks) == ["a.jpg", "b.jpg"]
    assert len(harness.ailab.requests) == 2
    assert slack.calls_to("files.info") == []  # the message event carried everything


async def test_file_shared_alone_is_resolved_through_its_message(harness: Harness) -> None:
    slack = harness.slack
    file = slack.host_file("only.jpg", jpeg_bytes())
    event = slack.image_message([file], text="portrait whiteBK")  # Slack never sends this message event
    assert await slack.send_event(harness.bot_url, slack.file_shared_event(event, file)) == 200
    (posted,) = await wait_for(lambda: slack.file_messages, what="the result")
    assert posted.thread_ts == event["ts"]
    assert posted.files[0].filename == "only-portrait-white.jpg"  # the spec typed with the upload was used
    assert len(slack.calls_to("files.info")) == 1


async def test_socket_mode_redelivery_runs_once(tmp_path: Path) -> None:
    fakes = await Fakes.start()
    slack = fakes.slack
    environment = fakes.environment(tmp_path, SLACK_APP_TOKEN=slack.app_token)
    bot = Bot(Config.from_env(environment, env_file=None))
    try:
        await bot.start()
        event = slack.image_message([slack.host_file("s.jpg", jpeg_bytes())], text="apparel")
        envelope = slack.event_envelope(event, event_id="Ev0SOCKET")
        for attempt in range(2):
            ack = await slack.socket_send(
                {
                    "envelope_id": f"env-{attempt}",
                    "type": "events_api",
                    "accepts_response_payload": False,
                    "retry_attempt": attempt,
                    "retry_reason": "timeout" if attempt else "",
                    "payload": envelope,
                }
            )
            assert ack["envelope_id"] == f"env-{attempt}"  # every delivery is acknowledged
            await wait_for(lambda: slack.file_messages, what="the result")
        await bot.runner.run_until_idle()  # type: ignore[union-attr]
        assert len(slack.file_messages) == 1
        assert len(fakes.ailab.requests) == 1
    finally:
        await bot.stop(grace_s=2)
        await fakes.stop()
