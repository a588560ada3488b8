"""Bad input, all of it into one running bot: each gets a clear message and a failed task with its reason
(commands: an ephemeral answer, nothing queued), no vendor call is made for it, and the bot stays up."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from PIL import Image

from bot.domain.tasks import TaskState
from fakes.images import encode, jpeg_bytes, product_photo
from fakes.net import wait_for
from tests import fault_report
from tests.e2e.harness import Harness, running_bot


@dataclass(frozen=True)
class BadFile:
    name: str
    data: bytes
    mimetype: str
    code: str  # the failed task's error code
    words: str  # what the thread message must say


def bad_files() -> list[BadFile]:
    jpeg = encode(product_photo(800, 600), "JPEG")
    bomb_side = 8100
    return [
        BadFile(
            "photo.png",
            b"this is a text file that says it is a PNG",
            "image/png",
            "IMAGE_UNREADABLE",
            "could not be read as an image",
        ),
        BadFile("empty.jpg", b"", "image/jpeg", "FILE_EMPTY", "is empty (0 bytes)"),
        BadFile("half.jpg", jpeg[: len(jpeg) // 2], "image/jpeg", "IMAGE_UNREADABLE", "damaged, truncated"),
        BadFile(
            "bomb.png",
            encode(Image.new("1", (bomb_side, bomb_side)), "PNG"),
            "image/png",
            "IMAGE_TOO_MANY_PIXELS",
            "megapixels",
        ),
        BadFile(
            "logo.svg",
            b"<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'/>",
            "image/svg+xml",
            "FILE_IS_SVG",
            "Export it as PNG",
        ),
        BadFile(
            "catalog.pdf",
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3 a catalog",
            "application/pdf",
            "FILE_IS_PDF",
            "is a PDF, not an image",
        ),
        BadFile(
            "huge.jpg",
            encode(product_photo(1200, 900), "BMP"),
            "image/jpeg",
            "FILE_TOO_LARGE",
            "the bot takes files up to",
        ),
        BadFile(
            "dot.png",
            encode(Image.new("RGB", (1, 1), "red"), "PNG"),
            "image/png",
            "IMAGE_TOO_SMALL",
            "1×1 pixels",
        ),
    ]


async def test_bad_files_and_commands_are_answered_and_the_bot_stays_up(tmp_path: Path) -> None:
    async with running_bot(tmp_path, CUTOUT_MAX_FILE_MB="1") as harness:
        slack = harness.slack
        hosted: dict[str, str] = {}
        for bad in bad_files():
            file = slack.host_file(bad.name, bad.data, bad.mimetype)
            hosted[bad.name] = file["id"]
            event = await harness.drop_image([file], text="apparel")
            (failure,) = await wait_for(
                lambda event=event: [m for m in slack.messages if m.thread_ts == event["ts"]], what=bad.name
            )
            assert bad.words in failure.text, (bad.name, failure.text)
            (task,) = await harness.store.tasks_for_message(event["channel"], event["ts"])
            assert (task.state, task.error_code) == (TaskState.FAILED, bad.code), bad.name
            assert task.error_message and bad.words in task.error_message
            await wait_for(
                lambda event=event: slack.reactions_on(event["channel"], event["ts"]) == {"x"},
                what=f"✗ on {bad.name}",
            )
            fault_report.bad_input()
        assert harness.ailab.requests == []  # none of it reached the vendor
        assert hosted["huge.jpg"] not in [file_id for file_id, _ in slack.downloads]  # refused on its size

        await _bad_commands(harness)
        await _bad_urls(harness)
        await _slack_login_page(harness)

        # Still up: health answers and a good image goes through.
        async with (
            aiohttp.ClientSession() as session,
            session.get(harness.bot_url.replace("/slack/events", "/healthz")) as health,
        ):
            assert health.status == 200
        good = await harness.drop_image([slack.host_file("good.jpg", jpeg_bytes())], text="apparel")
        await wait_for(
            lambda: [m for m in slack.file_messages if m.thread_ts == good["ts"]], what="a good result"
        )


async def _bad_commands(harness: Harness) -> None:
    slack = harness.slack
    before = len(await harness.store.user_tasks("U0ALICE", limit=100))
    commands = [
        ("apparel " + "tops " * 1000, "takes at most 1000"),
        ("apparel topz whiteBK", "Did you mean `tops`?"),
        ("product 👕 white", "`👕` is not a word"),
        ("portrait ŵhite", "is not a word `/cutout portrait` knows"),
        ("segment <@U0EVIL> <!channel>", "is not a word"),
    ]
    for index, (text, words) in enumerate(commands):
        await harness.command(text)
        reply = await wait_for(
            lambda i=index: len(slack.responses) > i and slack.responses[i], what=text[:20]
        )
        assert reply["response_type"] == "ephemeral"
        assert words in reply["text"], (text[:30], reply["text"])
        assert "<!channel>" not in reply["text"]  # nothing the user typed can ping a channel
        fault_report.bad_input()
    assert len(await harness.store.user_tasks("U0ALICE", limit=100)) == before  # nothing queued


async def _bad_urls(harness: Harness) -> None:
    slack = harness.slack
    async with running_bot(
        harness.config.db_path.parent.parent / "strict", CUTOUT_ALLOW_PRIVATE_URLS="false"
    ) as strict:
        await strict.command("product https://10.0.0.7/internal.png")
        (reply,) = await wait_for(lambda: strict.slack.responses, what="the refusal")
        assert "private or local address" in reply["text"]
        assert await strict.store.user_tasks("U0ALICE") == []
        fault_report.bad_input()
    page = harness.web.add("shop/item.html", b"<!doctype html><title>shop</title>", "text/html")
    replies = len(slack.responses)
    await harness.command(f"apparel {page}")
    await wait_for(lambda: len(slack.responses) > replies, what="the reply")
    failure = await wait_for(
        lambda: [m for m in slack.messages if "text/html, not an image" in m.text], what="the failure"
    )
    assert failure
    task = (await harness.store.user_tasks("U0ALICE"))[0]
    assert (task.state, task.error_code) == (TaskState.FAILED, "URL_NOT_AN_IMAGE")
    fault_report.bad_input()


async def _slack_login_page(harness: Harness) -> None:
    slack = harness.slack
    slack.files_readable = False
    try:
        event = await harness.drop_image([slack.host_file("locked.jpg", jpeg_bytes())], text="apparel")
        (failure,) = await wait_for(
            lambda: [m for m in slack.messages if m.thread_ts == event["ts"]], what="the failure"
        )
        assert "lacks the `files:read` scope" in failure.text
        assert "reinstall" in failure.text
        (task,) = await harness.store.tasks_for_message(event["channel"], event["ts"])
        assert (task.state, task.error_code) == (TaskState.FAILED, "SLACK_FILE_ACCESS")
        assert task.error_message is not None and "‘files:read’" in task.error_message
        assert "`" not in task.error_message  # the database holds plain text; Slack's door adds the code
        fault_report.bad_input()
    finally:
        slack.files_readable = True


async def test_a_30000_pixel_wide_image_is_fixed_not_refused(harness: Harness) -> None:
    slack = harness.slack
    panorama = encode(product_photo(30000, 600), "PNG")
    event = await harness.drop_image(
        [slack.host_file("banner.png", panorama, "image/png")], text="apparel mask"
    )
    (posted,) = await wait_for(lambda: slack.file_messages, what="the result", timeout=30)
    assert posted.thread_ts == event["ts"]
    (sent,) = harness.ailab.requests
    assert sent.size[0] <= 2999
    with Image.open(io.BytesIO(posted.files[0].data or b"")) as mask:
        assert mask.size == (30000, 600)  # restored to the original size
    fault_report.bad_input()
