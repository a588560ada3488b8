"""End to end: `/cutout` through the real bot — arming, re-running, errors and sub-commands."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiohttp

from bot.domain.tasks import TaskSource, TaskState
from fakes.images import jpeg_bytes
from fakes.net import wait_for
from tests.e2e.harness import Harness, running_bot


async def test_arm_then_upload_runs_the_armed_spec_on_the_next_image(harness: Harness) -> None:
    slack = harness.slack
    await harness.command("portrait whiteBK")
    (reply,) = await wait_for(lambda: slack.responses, what="the ephemeral reply")
    assert reply["response_type"] == "ephemeral"
    assert "Armed `portrait white`" in reply["text"]
    assert harness.ailab.requests == []

    event = await harness.drop_image([slack.host_file("face.jpg", jpeg_bytes())])
    (posted,) = await wait_for(lambda: slack.file_messages, what="the result")
    assert posted.thread_ts == event["ts"]
    assert posted.files[0].filename == "face-portrait-white.jpg"
    assert harness.ailab.requests[0].fields == {"return_form": "whiteBK"}
    (task,) = await harness.store.tasks_for_message(event["channel"], event["ts"])
    assert task.source is TaskSource.ARMED

    second = await harness.drop_image([slack.host_file("next.jpg", jpeg_bytes())])
    await wait_for(lambda: len(slack.file_messages) == 2, what="the second result")
    (task,) = await harness.store.tasks_for_message(second["channel"], second["ts"])
    assert task.source is TaskSource.DEFAULT  # the armed spec was used once


async def test_armed_spec_belongs_to_its_user_and_channel(harness: Harness) -> None:
    slack = harness.slack
    await harness.command("portrait mask", user="U0ALICE")
    await wait_for(lambda: slack.responses, what="the reply")
    await harness.drop_image([slack.host_file("b.jpg", jpeg_bytes())], user="U0BOB")
    await harness.drop_image([slack.host_file("c.jpg", jpeg_bytes())], user="U0ALICE", channel="C0OTHER")
    await wait_for(lambda: len(slack.file_messages) == 2, what="two default runs")
    assert {m.files[0].filename for m in slack.file_messages} == {
        "b-apparel-transparent.png",
        "c-apparel-transparent.png",
    }


async def test_upload_then_command_reruns_on_that_image_in_its_thread(harness: Harness) -> None:
    slack = harness.slack
    event = await harness.drop_image([slack.host_file("dress.jpg", jpeg_bytes())], text="apparel")
    await wait_for(lambda: slack.file_messages, what="the first result")
    await wait_for(lambda: "white_check_mark" in slack.reactions_on(event["channel"], event["ts"]), what="✓")

    await harness.command("apparel skirt mask")
    (reply,) = await wait_for(lambda: slack.responses, what="the reply")
    assert "Running `apparel skirt mask` on `dress.jpg`" in reply["text"]
    second = await wait_for(
        lambda: len(slack.file_messages) == 2 and slack.file_messages[1], what="the re-run"
    )
    assert second.thread_ts == event["ts"]
    assert [f.filename for f in second.files] == ["dress-apparel-mask.png", "dress-mask-skirt.png"]
    assert harness.ailab.requests[1].fields == {
        "out_mode": "1",
        "cloth_class": "skirt",
        "return_form": "mask",
    }
    assert slack.downloads[0][0] == slack.downloads[1][0]  # the same Slack file, fetched again
    tasks = await harness.store.tasks_for_message(event["channel"], event["ts"])
    assert [t.source for t in tasks] == [TaskSource.UPLOAD, TaskSource.RERUN]
    await wait_for(
        lambda: slack.reactions_on(event["channel"], event["ts"]) == {"white_check_mark"}, what="✓ again"
    )


async def test_invalid_command_names_the_word_suggests_and_queues_nothing(harness: Harness) -> None:
    slack = harness.slack
    await harness.drop_image([slack.host_file("x.jpg", jpeg_bytes())], text="apparel")
    await wait_for(lambda: slack.file_messages, what="the first result")
    await harness.command("apparel topz whiteBK")
    (reply,) = await wait_for(lambda: slack.responses, what="the error")
    assert reply["response_type"] == "ephemeral"
    assert "`topz`" in reply["text"]
    assert "Did you mean `tops`?" in reply["text"]
    assert "`coat`" in reply["text"]
    assert "Nothing was queued" in reply["text"]
    assert len(await harness.store.user_tasks("U0ALICE")) == 1
    assert len(harness.ailab.requests) == 1


async def test_bare_command_is_help_with_examples_and_configured_vendors(harness: Harness) -> None:
    await harness.command("")
    (reply,) = await wait_for(lambda: harness.slack.responses, what="help")
    text = reply["text"]
    assert "`/cutout apparel tops,coat whiteBK`" in text
    assert "*apparel* (runs on AILabTools, then local engine)" in text  # its route
    assert "*product* (runs on Aidge, then local engine)" in text
    assert "*segment* (runs on PicWish)" in text
    assert "/cutout status" in text


async def test_status_default_and_auto(harness: Harness) -> None:
    slack = harness.slack
    await harness.command("default portrait crop")
    await harness.command("auto off")
    await harness.command("status")
    replies = await wait_for(lambda: len(slack.responses) == 3 and slack.responses, what="three replies")
    assert "now run `portrait crop`" in replies[0]["text"]
    assert "Auto-processing is off" in replies[1]["text"]
    assert "You have no unfinished tasks." in replies[2]["text"]
    assert "`portrait crop` (this channel's default); auto-processing is off" in replies[2]["text"]

    event = await harness.drop_image([slack.host_file("quiet.jpg", jpeg_bytes())])
    await harness.drop_image([slack.host_file("asked.jpg", jpeg_bytes())], text="apparel")
    await wait_for(lambda: slack.file_messages, what="the asked-for result")
    assert [m.files[0].filename for m in slack.file_messages] == ["asked-apparel-transparent.png"]
    assert await harness.store.tasks_for_message(event["channel"], event["ts"]) == []

    await harness.command("auto on")
    await wait_for(lambda: len(slack.responses) == 4, what="auto on")
    await harness.drop_image([slack.host_file("loud.jpg", jpeg_bytes())])
    await wait_for(lambda: len(slack.file_messages) == 2, what="the default run")
    assert slack.file_messages[1].files[0].filename == "loud-portrait-crop.png"


async def test_direct_message_is_always_processed(harness: Harness) -> None:
    slack = harness.slack
    await harness.command("auto off", channel="D0DM")
    await wait_for(lambda: slack.responses, what="reply")
    await harness.drop_image([slack.host_file("dm.jpg", jpeg_bytes())], channel="D0DM", channel_type="im")
    await wait_for(lambda: slack.file_messages, what="the DM result")


async def test_history_lists_tasks_with_thread_links_and_cancel_stops_queued_ones(harness: Harness) -> None:
    slack = harness.slack
    await harness.drop_image([slack.host_file("one.jpg", jpeg_bytes())], text="apparel")
    await wait_for(lambda: slack.file_messages, what="result")
    await harness.command("history")
    (history,) = await wait_for(lambda: slack.responses, what="history")
    assert "`apparel` on `one.jpg`" in history["text"]
    assert "done" in history["text"]
    assert "|thread>" in history["text"]
    await harness.command("cancel")
    await wait_for(lambda: len(slack.responses) == 2, what="cancel reply")
    assert slack.responses[1]["text"] == "You have no unfinished tasks to cancel."
    await harness.command("cancel 1", user="U0BOB")
    await wait_for(lambda: len(slack.responses) == 3, what="cancel reply")
    assert slack.responses[2]["text"] == "You have no task #1."


async def test_unsigned_or_stale_requests_are_refused(harness: Harness) -> None:
    body = json.dumps(
        harness.slack.event_envelope({"type": "message", "channel": "C1", "ts": "1.2"})
    ).encode()
    async with aiohttp.ClientSession() as session:
        forged = {
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": str(int(time.time())),
            "X-Slack-Signature": "v0=" + "0" * 64,
        }
        async with session.post(harness.bot_url, data=body, headers=forged) as reply:
            assert reply.status == 401
        stale = {"Content-Type": "application/json", **harness.slack.sign(body, int(time.time()) - 600)}
        async with session.post(harness.bot_url, data=body, headers=stale) as reply:
            assert reply.status == 401
        async with session.get(harness.bot_url.replace("/slack/events", "/healthz")) as reply:
            assert reply.status == 200
            assert (await reply.json())["ok"] is True


async def test_ordinary_chat_is_acknowledged_and_ignored(harness: Harness) -> None:
    event = {
        "type": "message",
        "text": "hello team",
        "user": "U0ALICE",
        "channel": "C0GENERAL",
        "ts": "1700000000.000100",
    }
    assert await harness.slack.send_event(harness.bot_url, event) == 200
    assert harness.slack.messages == []
    assert await harness.store.user_tasks("U0ALICE") == []


async def test_cancel_stops_queued_tasks_at_once_and_running_ones_at_their_next_step(tmp_path: Path) -> None:
    async with running_bot(tmp_path, CUTOUT_WORKERS="1") as harness:
        slack, ailab = harness.slack, harness.ailab
        ailab.gate = asyncio.Event()
        first = await harness.drop_image([slack.host_file("1.jpg", jpeg_bytes())], text="apparel")
        await wait_for(lambda: ailab.waiting, what="the first task at the vendor")
        second = await harness.drop_image([slack.host_file("2.jpg", jpeg_bytes())], text="apparel")
        (queued,) = await wait_for(
            lambda: harness.store.tasks_for_message(second["channel"], second["ts"]), what="the second task"
        )
        (running,) = await harness.store.tasks_for_message(first["channel"], first["ts"])
        await harness.command("status")
        await harness.command(f"cancel {running.id}")
        await harness.command("cancel")
        replies = await wait_for(lambda: len(slack.responses) == 3 and slack.responses, what="replies")
        assert f"#{queued.id} `apparel` on `2.jpg`" in replies[0]["text"]
        assert "queued" in replies[0]["text"]
        assert replies[1]["text"] == f"#{running.id} had already started: it stops at its next step."
        assert replies[2]["text"] == f"Cancelled #{queued.id}."
        ailab.gate.set()
        await wait_for(lambda: _final(harness, running.id), what="the running task stopped")
        await harness.bot.runner.run_until_idle()  # type: ignore[union-attr]
        for task_id in (running.id, queued.id):
            assert (await harness.store.get_task(task_id)).state is TaskState.CANCELLED  # type: ignore[union-attr]
        assert len(ailab.requests) == 1  # the queued one never reached the vendor
        assert slack.file_messages == []  # the running one stopped before posting
        assert slack.reactions_on(first["channel"], first["ts"]) == set()


async def _final(harness: Harness, task_id: int) -> bool:
    task = await harness.store.get_task(task_id)
    return task is not None and task.state.final
