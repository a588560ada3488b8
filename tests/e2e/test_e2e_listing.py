"""End to end: listing images and checks (issue 16) through the real bot, the fake Slack and the fake
vendors — the result's pixels, its compliance report in the thread, the channel's presets on the buttons,
and a check that cuts nothing and calls no vendor."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from bot.domain.listing import PRESETS, Preset
from bot.domain.tasks import TaskState
from fakes.images import encode, jpeg_bytes, product_photo
from fakes.net import wait_for
from tests.e2e.harness import Harness, running_bot


def opened(data: bytes | None) -> Image.Image:
    assert data is not None
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def outer_band(image: Image.Image, width: int) -> np.ndarray:
    pixels = np.asarray(image.convert("RGB"))
    band = np.ones(pixels.shape[:2], bool)
    band[width:-width, width:-width] = False
    return pixels[band]


def button_labels(blocks: list[dict] | None) -> list[str]:
    return [
        element["text"]["text"]
        for block in blocks or []
        if block["type"] == "actions"
        for element in block["elements"]
    ]


async def test_an_amazon_listing_image_comes_with_its_report(harness: Harness) -> None:
    slack = harness.slack
    event = await harness.drop_image(
        [slack.host_file("shirt.jpg", jpeg_bytes(2400, 1800))], text="apparel amazon"
    )
    (posted,) = await wait_for(lambda: slack.file_messages, what="the listing image")
    assert posted.thread_ts == event["ts"]
    assert [f.filename for f in posted.files] == ["shirt-amazon.jpg"]
    result = opened(posted.files[0].data)
    assert (result.format, result.mode, result.size) == ("JPEG", "RGB", PRESETS[Preset.AMAZON].canvas)
    assert (outer_band(result, 40) == 255).all()  # pure white at the frame, after JPEG decoding
    assert not result.info.get("exif") and not result.info.get("icc_profile")
    assert "Amazon main image: passes all" in posted.initial_comment
    for rule in ("background", "fill", "centring", "size", "format", "bytes", "transparency"):
        assert f"white_check_mark: {rule}:" in posted.initial_comment
    assert button_labels(posted.blocks) == ["Cut-out only"]
    assert len(harness.ailab.requests) == 1  # the vendor cut it; the bot laid it out
    (task,) = await harness.store.user_tasks("U0ALICE")
    assert task.state is TaskState.DONE


async def test_a_check_measures_the_image_as_it_is_and_calls_no_vendor(harness: Harness) -> None:
    slack = harness.slack
    small_grey = Image.new("RGB", (600, 450), (200, 200, 205))  # a grey studio, a subject filling little
    small_grey.paste((180, 40, 40), (270, 200, 330, 260))
    event = await harness.drop_image([slack.host_file("mug.png", encode(small_grey, "PNG"), "image/png")])
    await wait_for(lambda: slack.file_messages, what="the default cut of the upload")
    await harness.command("check amazon")  # on the newest image, like any re-run
    (report,) = await wait_for(
        lambda: [m for m in slack.messages if "Amazon main image" in m.text], what="the check's report"
    )
    assert report.thread_ts == event["ts"]
    assert "rules fail" in report.text
    for failing in ("background", "fill", "size"):  # grey edge, 6% fill, 450 px
        assert f":x: {failing}:" in report.text
    assert ":white_check_mark: transparency:" in report.text
    assert len(slack.file_messages) == 1  # the check posted no file
    assert button_labels(report.blocks) == ["Make it Amazon-ready"]
    calls = len(harness.aidge.requests) + len(harness.ailab.requests) + len(harness.picwish.created)
    assert calls <= 1  # the default cut's; the check made none
    checks = [t for t in await harness.store.user_tasks("U0ALICE") if t.spec.check is Preset.AMAZON]
    assert len(checks) == 1 and checks[0].state is TaskState.DONE and checks[0].vendor == "compliance check"


async def test_an_upload_with_check_words_is_checked_and_a_good_image_passes(harness: Harness) -> None:
    slack = harness.slack
    listing = Image.new("RGB", (2000, 2000), (255, 255, 255))
    listing.paste((30, 60, 160), (100, 100, 1900, 1900))  # 90% of the frame, centred
    good = io.BytesIO()
    listing.save(good, "JPEG", quality=95, subsampling=0)
    await harness.drop_image([slack.host_file("ready.jpg", good.getvalue())], text="check amazon")
    (report,) = await wait_for(
        lambda: [m for m in slack.messages if "Amazon main image" in m.text], what="the check's report"
    )
    assert "passes all 7 rules" in report.text
    assert slack.file_messages == []
    assert harness.aidge.requests == [] and harness.ailab.requests == []


async def test_the_channels_presets_become_buttons(tmp_path: Path) -> None:
    async with running_bot(tmp_path, AIDGE_APP_KEY="", AIDGE_APP_SECRET="") as harness:
        slack = harness.slack
        await harness.drop_image(
            [slack.host_file("mug.png", encode(product_photo(500, 400), "PNG"), "image/png")],
            text="product etsy",
        )
        (first,) = await wait_for(lambda: slack.file_messages, what="the Etsy image")
        etsy = opened(first.files[0].data)
        assert etsy.size == PRESETS[Preset.ETSY].canvas and (outer_band(etsy, 30) == 255).all()
        assert "Etsy" not in button_labels(first.blocks)  # this very preset is not offered again
        await harness.drop_image(
            [slack.host_file("cup.png", encode(product_photo(500, 400), "PNG"), "image/png")], text="product"
        )
        second = await wait_for(lambda: len(slack.file_messages) == 2 and slack.file_messages[1], what="2nd")
        assert "Etsy" in button_labels(second.blocks)  # the channel used it last
