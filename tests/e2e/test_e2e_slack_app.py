"""End to end: the Slack app people use — Block Kit results and re-run buttons, the message shortcut and its
modal, in-thread re-runs, App Home, progress for long tasks. Every Block Kit payload the bot sends is parsed
back through slack-sdk's block models here."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.domain.tasks import TaskSource, TaskState
from bot.tasks.progress import Pacing
from fakes.images import jpeg_bytes
from fakes.net import wait_for
from fakes.slack import BOT_USER_ID, blocks_text
from tests.e2e.harness import Harness, running_bot


def valid_blocks(blocks: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Parse every block with slack-sdk's models (which validate) and check nothing is lost on the way."""
    assert blocks, "no blocks"
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None, block
        parsed.validate_json()
        assert parsed.to_dict() == block
    return blocks


def valid_view(view: dict[str, Any]) -> dict[str, Any]:
    fields = {
        k: v
        for k, v in view.items()
        if k in ("type", "callback_id", "title", "submit", "close", "blocks", "private_metadata")
    }
    View(**fields).validate_json()
    valid_blocks(view["blocks"])
    return view


def buttons(blocks: list[dict[str, Any]]) -> dict[str, str]:
    """Button label → action id."""
    return {
        element["text"]["text"]: element["action_id"]
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]
    }


async def test_result_message_is_block_kit_with_summary_task_and_re_runs(harness: Harness) -> None:
    slack = harness.slack
    event = await harness.drop_image(
        [slack.host_file("shirt.jpg", jpeg_bytes(800, 600))], text="apparel tops white"
    )
    (posted,) = await wait_for(lambda: slack.file_messages, what="the result")
    blocks = valid_blocks(posted.blocks)
    section, context, actions = blocks
    assert section["type"] == "section"
    summary = section["text"]["text"]
    for fact in ("`shirt.jpg`", "`apparel tops white`", "AILabTools", "800×600 px", " s · task #1"):
        assert fact in summary
    assert context["type"] == "context"
    assert "task #1" in blocks_text([context])
    assert actions["type"] == "actions"
    assert set(buttons(blocks)) == {"Transparent background", "Mask"}
    assert [f.filename for f in posted.files] == ["shirt-apparel-white.jpg", "shirt-white-tops.jpg"]
    assert posted.thread_ts == event["ts"]


async def test_a_re_run_button_starts_a_task_with_the_changed_option_in_the_same_thread(
    harness: Harness,
) -> None:
    slack, ailab = harness.slack, harness.ailab
    event = await harness.drop_image([slack.host_file("shirt.jpg", jpeg_bytes())], text="apparel tops white")
    (first,) = await wait_for(lambda: slack.file_messages, what="the result")
    assert await slack.click(harness.bot_url, first, buttons(first.blocks or [])["Mask"], user="U0BOB") == 200
    second = await wait_for(
        lambda: len(slack.file_messages) == 2 and slack.file_messages[1], what="the re-run"
    )
    assert second.thread_ts == event["ts"]
    assert [f.filename for f in second.files] == ["shirt-apparel-mask.png", "shirt-mask-tops.png"]
    assert ailab.requests[1].fields == {"out_mode": "1", "cloth_class": "tops", "return_form": "mask"}
    tasks = await harness.store.tasks_for_message(event["channel"], event["ts"])
    assert [(t.source, t.user_id) for t in tasks] == [
        (TaskSource.UPLOAD, "U0ALICE"),
        (TaskSource.RERUN, "U0BOB"),
    ]
    (note,) = slack.ephemerals
    assert (note.user, note.thread_ts) == ("U0BOB", event["ts"])
    assert "Running `apparel tops mask`" in note.text


async def test_a_failure_offers_try_again(harness: Harness) -> None:
    slack, ailab = harness.slack, harness.ailab
    ailab.fail_next(422, "ERROR_NO_RECOGNITION_TARGET_DETECTED", "no target")
    event = await harness.drop_image([slack.host_file("dim.jpg", jpeg_bytes())], text="portrait")
    (failure,) = await wait_for(lambda: slack.messages, what="the failure")
    blocks = valid_blocks(failure.blocks)
    assert "found nothing to cut out" in blocks_text(blocks)
    assert await slack.click(harness.bot_url, failure, buttons(blocks)["Try again"]) == 200
    (posted,) = await wait_for(lambda: slack.file_messages, what="the retried result")
    assert posted.thread_ts == event["ts"]
    await wait_for(
        lambda: slack.reactions_on(event["channel"], event["ts"]) == {"white_check_mark"}, what="✓"
    )


def product_form(size: str, image_id: str) -> dict[str, dict[str, dict[str, Any]]]:
    """The modal's state when a user picks product, white, a size and one image."""
    return {
        "mode": {"modal_mode": {"type": "static_select", "selected_option": {"value": "product"}}},
        "look": {"look": {"type": "radio_buttons", "selected_option": {"value": "white"}}},
        "size": {"size": {"type": "plain_text_input", "value": size}},
        "images": {"images": {"type": "checkboxes", "selected_options": [{"value": image_id}]}},
    }


async def test_the_shortcut_opens_a_modal_whose_submission_queues_the_chosen_images(harness: Harness) -> None:
    slack, aidge = harness.slack, harness.aidge
    files = [slack.host_file("mug.jpg", jpeg_bytes()), slack.host_file("cup.jpg", jpeg_bytes())]
    event = slack.image_message(files, text="new products", user="U0CAROL")
    status, trigger = await slack.send_shortcut(harness.bot_url, event)
    assert status == 200
    view_id = await wait_for(lambda: slack.opened_views and slack.opened_views[0], what="the modal")
    (opened,) = slack.calls_to("views.open")
    assert opened.params["trigger_id"] == trigger
    modal = valid_view(slack.views[view_id])
    assert modal["callback_id"] == "cutout_modal"
    assert [b["block_id"] for b in modal["blocks"]] == [
        "mode",
        "classes",
        "look",
        "images",
    ]  # apparel: the default

    assert await slack.choose_in_view(harness.bot_url, view_id, "modal_mode", "product") == 200
    await wait_for(
        lambda: [b["block_id"] for b in slack.views[view_id]["blocks"]] == ["mode", "look", "size", "images"],
        what="product options",
    )
    valid_view(slack.views[view_id])

    status, answer = await slack.submit_view(harness.bot_url, view_id, product_form("80x80", files[1]["id"]))
    assert status == 200
    assert answer is not None and answer["response_action"] == "errors"
    assert "100–3000" in answer["errors"]["size"]

    status, answer = await slack.submit_view(
        harness.bot_url, view_id, product_form("800x800", files[1]["id"])
    )
    assert status == 200
    (posted,) = await wait_for(lambda: slack.file_messages, what="the result")
    assert posted.thread_ts == event["ts"]
    assert [f.filename for f in posted.files] == ["cup-product-white.jpg"]  # only the chosen image
    assert aidge.requests[0].body_fields == {
        "backGroundType": "WHITE_BACKGROUND",
        "targetWidth": 800,
        "targetHeight": 800,
    }
    (task,) = await harness.store.tasks_for_message(event["channel"], event["ts"])
    assert (task.source, task.user_id) == (TaskSource.SHORTCUT, "U0ALICE")


async def test_the_shortcut_on_a_message_without_an_image_gets_a_friendly_note(harness: Harness) -> None:
    slack = harness.slack
    event = {
        "type": "message",
        "user": "U0BOB",
        "text": "standup at ten",
        "ts": slack.new_ts(),
        "channel": "C0GENERAL",
    }
    status, _ = await slack.send_shortcut(harness.bot_url, event)
    assert status == 200
    (note,) = await wait_for(lambda: slack.responses, what="the note")
    assert note["response_type"] == "ephemeral"
    assert "no image to cut out" in note["text"]
    assert slack.calls_to("views.open") == []


async def test_a_spec_replied_in_the_thread_runs_on_that_messages_images(harness: Harness) -> None:
    slack, ailab = harness.slack, harness.ailab
    event = await harness.drop_image([slack.host_file("look.jpg", jpeg_bytes())], text="apparel")
    await wait_for(lambda: slack.file_messages, what="the first result")
    reply = {
        "type": "message",
        "user": "U0BOB",
        "channel": event["channel"],
        "ts": slack.new_ts(),
        "thread_ts": event["ts"],
    }
    for text in ("love this one!", "apparel team will check tomorrow", "apparel pants mask"):
        assert await slack.send_event(harness.bot_url, {**reply, "ts": slack.new_ts(), "text": text}) == 200
    second = await wait_for(
        lambda: len(slack.file_messages) == 2 and slack.file_messages[1], what="the re-run"
    )
    assert second.thread_ts == event["ts"]
    assert [f.filename for f in second.files] == ["look-apparel-mask.png", "look-mask-pants.png"]
    assert len(ailab.requests) == 2  # the talk in the thread ran nothing
    assert slack.ephemerals == []
    await slack.send_event(
        harness.bot_url, {**reply, "ts": slack.new_ts(), "text": f"<@{BOT_USER_ID}> apparel topz"}
    )
    (note,) = await wait_for(lambda: slack.ephemerals, what="the explanation")
    assert "Did you mean `tops`?" in note.text
    tasks = await harness.store.tasks_for_message(event["channel"], event["ts"])
    assert [t.source for t in tasks] == [TaskSource.UPLOAD, TaskSource.THREAD]


async def test_app_home_shows_tasks_defaults_vendors_and_usage(harness: Harness) -> None:
    slack = harness.slack
    await harness.command("default portrait crop", channel="C0DESIGN")
    await harness.drop_image([slack.host_file("a.jpg", jpeg_bytes())], text="apparel")
    await wait_for(lambda: slack.file_messages, what="a result")
    await harness.bot.runner.run_until_idle()  # type: ignore[union-attr]
    assert await slack.open_home(harness.bot_url) == 200
    view = await wait_for(lambda: slack.home_views.get("U0ALICE"), what="the published home")
    valid_view(view)
    text = blocks_text(view["blocks"])
    assert "Cuts the subject out" in text
    assert "#1 `apparel` · done" in text and "|thread>" in text
    assert "<#C0DESIGN>: `portrait crop`" in text
    assert "*apparel*: AILabTools" in text and "*local engine*: on" in text
    assert "apparel: 1" in text and "AILabTools: 1" in text
    assert "1 image(s) sent to paid vendors, about $0.00" in text and "<@U0ALICE> 1" in text  # this month
    assert await slack.open_home(harness.bot_url, user="U0NEW") == 200
    fresh = await wait_for(lambda: slack.home_views.get("U0NEW"), what="a new user's home")
    assert "None yet" in blocks_text(valid_view(fresh)["blocks"])


async def test_a_long_picwish_task_keeps_one_progress_message_up_to_date(tmp_path: Path) -> None:
    async with running_bot(tmp_path, pacing=Pacing(long_task_s=0.0, progress_every_s=0.0)) as harness:
        await _keeps_one_progress_message(harness)


async def _keeps_one_progress_message(harness: Harness) -> None:
    slack, picwish = harness.slack, harness.picwish
    picwish.states = (0, 2, 3, 4, 4, 4, 1)
    event = await harness.drop_image([slack.host_file("look.jpg", jpeg_bytes())], text="segment")
    await wait_for(lambda: slack.file_messages, what="the masks")
    await harness.bot.runner.run_until_idle()  # type: ignore[union-attr]
    (progress,) = slack.messages  # one message, rewritten — not one per poll
    assert progress.thread_ts == event["ts"]
    assert progress.text == ":white_check_mark: PicWish finished `look.jpg`."
    assert [text for ts, text in slack.updates if ts == progress.ts][:-1]  # it was updated while working
    assert any("% done" in text for _, text in slack.updates)
    (task,) = await harness.store.tasks_for_message(event["channel"], event["ts"])
    assert (task.state, task.progress_ts) == (TaskState.DONE, progress.ts)


async def test_cancelling_a_polling_task_stops_it_at_the_next_poll(harness: Harness) -> None:
    slack, picwish = harness.slack, harness.picwish
    picwish.poll_hold.arm()
    event = await harness.drop_image([slack.host_file("slow.jpg", jpeg_bytes())], text="segment")
    await wait_for(lambda: picwish.poll_hold.waiting, what="a poll")
    await harness.command("cancel")
    (reply,) = await wait_for(lambda: slack.responses, what="the reply")
    assert "stops at its next step" in reply["text"]
    picwish.poll_hold.release()
    (task,) = await harness.store.tasks_for_message(event["channel"], event["ts"])
    await wait_for(lambda: _state(harness, task.id, TaskState.CANCELLED), what="cancelled")
    await asyncio.sleep(0.2)
    assert slack.file_messages == []
    assert len(picwish.polls) == 1


async def _state(harness: Harness, task_id: int, state: TaskState) -> bool:
    task = await harness.store.get_task(task_id)
    return task is not None and task.state is state
