"""End to end: images dropped into Slack, through the real bot and the fake AILabTools, into the thread."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from bot.domain.tasks import TaskState
from fakes.images import jpeg_bytes, png_bytes
from fakes.net import wait_for
from fakes.slack import FileMessage
from tests import fault_report
from tests.e2e.harness import Harness, running_bot


def opened(data: bytes | None) -> Image.Image:
    assert data is not None
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


async def test_upload_with_a_spec_posts_every_result_file_in_the_thread(harness: Harness) -> None:
    slack, ailab = harness.slack, harness.ailab
    shirt = slack.host_file("shirt.jpg", jpeg_bytes(800, 600))
    event = await harness.drop_image([shirt], text="apparel tops,coat whiteBK")

    message = await wait_for(lambda: slack.file_messages, what="the results in the thread")
    (posted,) = message
    assert isinstance(posted, FileMessage)
    assert (posted.channel, posted.thread_ts) == (event["channel"], event["ts"])
    assert [f.filename for f in posted.files] == [
        "shirt-apparel-white.jpg",
        "shirt-white-tops.jpg",
        "shirt-white-coat.jpg",
    ]
    main = opened(posted.files[0].data)
    assert main.size == (800, 600)
    assert main.getpixel((5, 5)) == (255, 255, 255) or min(main.getpixel((5, 5))) > 245  # white background
    summary = posted.initial_comment
    assert "apparel tops,coat white" in summary
    assert "AILabTools" in summary
    assert "800×600" in summary
    assert " s · task #" in summary

    (sent,) = ailab.requests
    assert sent.fields == {"out_mode": "1", "cloth_class": "tops,coat", "return_form": "whiteBK"}
    assert (sent.filename, sent.image_format, sent.size) == ("shirt.jpg", "JPEG", (800, 600))
    assert slack.downloads == [(shirt["id"], True)]

    await wait_for(lambda: "white_check_mark" in slack.reactions_on(event["channel"], event["ts"]), what="✓")
    assert slack.reactions_on(event["channel"], event["ts"]) == {"white_check_mark"}
    assert ("add", event["channel"], event["ts"], "hourglass_flowing_sand") in slack.reaction_log
    (task,) = await harness.store.user_tasks("U0ALICE")
    assert task.state is TaskState.DONE
    assert task.vendor == "AILabTools"
    assert task.attempts == 1
    assert task.finished_at is not None


async def test_transparent_result_is_a_real_cutout(harness: Harness) -> None:
    product = harness.slack.host_file("bag.png", png_bytes(400, 300), "image/png")
    await harness.drop_image([product], text="apparel")
    (posted,) = await wait_for(lambda: harness.slack.file_messages, what="the result")
    (result,) = posted.files
    assert result.filename == "bag-apparel-transparent.png"
    image = opened(result.data)
    assert image.mode == "RGBA"
    assert image.getpixel((5, 5))[3] == 0  # background gone
    assert image.getpixel((200, 150))[3] == 255  # subject kept
    assert harness.ailab.requests[0].fields == {"out_mode": "0"}


async def test_several_images_in_one_message_each_become_a_task(harness: Harness) -> None:
    slack = harness.slack
    files = [slack.host_file(f"look{n}.jpg", jpeg_bytes(300 + 10 * n, 300)) for n in range(3)]
    event = await harness.drop_image(files, text="portrait mask")
    posted = await wait_for(
        lambda: len(slack.file_messages) == 3 and slack.file_messages, what="three results"
    )
    assert {m.thread_ts for m in posted} == {event["ts"]}
    assert sorted(m.files[0].filename for m in posted) == [f"look{n}-portrait-mask.png" for n in range(3)]
    assert len(harness.ailab.requests) == 3
    tasks = await harness.store.tasks_for_message(event["channel"], event["ts"])
    assert [t.state for t in tasks] == [TaskState.DONE] * 3
    await wait_for(
        lambda: slack.reactions_on(event["channel"], event["ts"]) == {"white_check_mark"}, what="✓"
    )


async def test_non_image_files_dropped_without_a_spec_are_left_alone(harness: Harness) -> None:
    slack = harness.slack
    doc = slack.host_file("notes.pdf", b"%PDF-1.7", "application/pdf")
    photo = slack.host_file("shoe.jpg", jpeg_bytes(), "image/jpeg")
    event = await harness.drop_image([doc, photo])
    await wait_for(lambda: slack.file_messages, what="one result")
    tasks = await harness.store.tasks_for_message(event["channel"], event["ts"])
    assert [t.file.name for t in tasks] == ["shoe.jpg"]
    assert [d[0] for d in slack.downloads] == [photo["id"]]
    only_doc = await harness.drop_image([slack.host_file("deck.pdf", b"%PDF-1.7", "application/pdf")])
    await harness.bot.runner.run_until_idle()  # type: ignore[union-attr]
    assert await harness.store.tasks_for_message(only_doc["channel"], only_doc["ts"]) == []
    assert slack.messages == []


async def test_a_pdf_dropped_with_a_spec_is_answered_with_what_to_do(harness: Harness) -> None:
    slack = harness.slack
    doc = slack.host_file("lookbook.pdf", b"%PDF-1.7 pages", "application/pdf")
    event = await harness.drop_image([doc], text="apparel tops")
    (failure,) = await wait_for(lambda: slack.messages, what="the explanation")
    assert failure.thread_ts == event["ts"]
    assert "`lookbook.pdf` is a PDF, not an image" in failure.text
    (task,) = await harness.store.tasks_for_message(event["channel"], event["ts"])
    assert (task.state, task.error_code) == (TaskState.FAILED, "FILE_IS_PDF")
    assert harness.ailab.requests == []


async def test_image_posted_in_a_thread_is_answered_in_that_thread(harness: Harness) -> None:
    slack = harness.slack
    parent = slack.image_message([slack.host_file("first.jpg", jpeg_bytes())], text="the drop")
    event = await harness.drop_image(
        [slack.host_file("second.jpg", jpeg_bytes())], text="apparel", thread_ts=parent["ts"]
    )
    (posted,) = await wait_for(lambda: slack.file_messages, what="the result")
    assert posted.thread_ts == parent["ts"]
    await wait_for(
        lambda: "white_check_mark" in slack.reactions_on(event["channel"], event["ts"]), what="✓ on the reply"
    )


async def test_vendor_error_is_explained_in_the_thread_with_its_code(tmp_path: Path) -> None:
    async with running_bot(tmp_path, CUTOUT_ROUTES="apparel=ailab") as harness:  # no engine to go on to
        await _vendor_error_is_explained(harness)


async def _vendor_error_is_explained(harness: Harness) -> None:
    slack, ailab = harness.slack, harness.ailab
    ailab.fail_next(429, "ERROR_NOT_ENOUGH_CREDITS", "Insufficient credits.")
    event = await harness.drop_image([slack.host_file("coat.jpg", jpeg_bytes())], text="apparel coat")
    (failure,) = await wait_for(lambda: slack.messages, what="the failure message")
    assert failure.thread_ts == event["ts"]
    assert "no credits left" in failure.text
    assert "ERROR_NOT_ENOUGH_CREDITS" in failure.text
    assert ailab.api_key not in failure.text
    assert slack.file_messages == []
    await wait_for(lambda: slack.reactions_on(event["channel"], event["ts"]) == {"x"}, what="✗")
    (task,) = await harness.store.tasks_for_message(event["channel"], event["ts"])
    assert task.state is TaskState.FAILED
    assert task.error_code == "ERROR_NOT_ENOUGH_CREDITS"
    assert len(ailab.requests) == 1  # a code that will not change is not retried


async def test_invalid_spec_with_an_upload_queues_nothing_and_says_why(harness: Harness) -> None:
    slack = harness.slack
    event = await harness.drop_image([slack.host_file("a.jpg", jpeg_bytes())], text="apparel topz")
    (note,) = await wait_for(lambda: slack.ephemerals, what="the ephemeral error")
    assert note.user == event["user"]
    assert "`topz`" in note.text
    assert "Did you mean `tops`?" in note.text
    assert await harness.store.tasks_for_message(event["channel"], event["ts"]) == []
    assert harness.ailab.requests == []


async def test_caption_that_is_not_a_spec_uses_the_channel_default(harness: Harness) -> None:
    slack = harness.slack
    await harness.drop_image([slack.host_file("tee.jpg", jpeg_bytes())], text="new tee for the summer drop")
    (posted,) = await wait_for(lambda: slack.file_messages, what="the result")
    assert posted.files[0].filename == "tee-apparel-transparent.png"  # CUTOUT_DEFAULT_SPEC=apparel


async def test_a_failed_result_upload_is_tried_again_and_sends_no_token(harness: Harness) -> None:
    slack = harness.slack
    slack.upload_failures = [503]  # Slack's file host stumbles once
    await harness.drop_image([slack.host_file("shirt.jpg", jpeg_bytes(800, 600))], text="apparel")
    (posted,) = await wait_for(lambda: slack.file_messages, what="the result in the thread")
    (only,) = posted.files
    assert opened(only.data).size == (800, 600)
    assert [file_id for file_id, _ in slack.upload_posts] == [only.file_id, only.file_id]
    assert not any(token for _, token in slack.upload_posts)  # the upload URL is the permission


async def test_a_result_slack_keeps_refusing_is_kept_and_try_again_posts_it_without_a_vendor_call(
    harness: Harness,
) -> None:
    slack, ailab = harness.slack, harness.ailab
    slack.upload_failures = [500, 500, 500]
    event = await harness.drop_image([slack.host_file("shirt.jpg", jpeg_bytes(800, 600))], text="apparel")
    said = await wait_for(
        lambda: [m for m in slack.messages if "did not take the result file" in m.text], what="the failure"
    )
    assert "`shirt-apparel-transparent.png`" in said[0].text and "HTTP 500" in said[0].text
    assert "The result is kept" in said[0].text
    assert slack.file_messages == []
    (task,) = await harness.store.tasks_for_message(event["channel"], event["ts"])
    assert (task.state, task.error_code) == (TaskState.UNDELIVERED, "SLACK_UPLOAD_FAILED")
    kept = [file.path for file in task.result_files]
    assert kept and all(Path(path).is_file() for path in kept)  # the paid-for result is still on disk
    await wait_for(lambda: "x" in slack.reactions_on(event["channel"], event["ts"]), what="the ✗")
    vendor_calls = len(ailab.requests)

    assert await slack.click(harness.bot_url, said[0], "rerun_0") == 200  # "Try again"
    (posted,) = await wait_for(lambda: slack.file_messages, what="the kept result posted")
    assert [f.filename for f in posted.files] == ["shirt-apparel-transparent.png"]
    assert opened(posted.files[0].data).size == (800, 600)
    assert len(ailab.requests) == vendor_calls  # nothing was cut or billed again
    await wait_for(
        lambda: "white_check_mark" in slack.reactions_on(event["channel"], event["ts"]), what="the ✓"
    )
    task = await harness.store.get_task(task.id)
    assert task is not None and task.state is TaskState.DONE
    assert not Path(kept[0]).exists()  # posted: the work folder is gone
    fault_report.survived("Slack refusing a result upload three times")
    fault_report.results_checked(1, thrown_away=0)


@pytest.mark.parametrize("refusal", ["not_in_channel", "channel_not_found"])
async def test_a_channel_the_bot_is_not_in_says_invite_it_and_the_database_holds_plain_text(
    harness: Harness, refusal: str
) -> None:
    slack = harness.slack
    slack.refuse["files.completeUploadExternal"] = refusal
    event = await harness.drop_image([slack.host_file("shirt.jpg", jpeg_bytes(800, 600))], text="apparel")
    said = await wait_for(
        lambda: [m for m in slack.messages if "Slack refused the post" in m.text], what="the failure"
    )
    assert "`/invite` it and try again" in said[0].text  # shown as code in Slack
    (task,) = await harness.store.tasks_for_message(event["channel"], event["ts"])
    assert (task.state, task.error_code) == (TaskState.UNDELIVERED, f"SLACK_{refusal}")
    assert task.error_message is not None and "‘/invite’ it and try again" in task.error_message
    assert "`" not in task.error_message  # stored as plain text: no mrkdwn in the database
