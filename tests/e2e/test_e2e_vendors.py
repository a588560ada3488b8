"""End to end through Slack for every mode and vendor: Aidge, PicWish, restoring full size, URLs."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from bot.domain.tasks import TaskSource, TaskState
from fakes.images import encode, jpeg_bytes, product_photo
from fakes.net import wait_for
from tests.e2e.harness import Harness, running_bot


def opened(data: bytes | None) -> Image.Image:
    assert data is not None
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# --- Aidge: product ---------------------------------------------------------------------------


async def test_product_white_through_aidge(harness: Harness) -> None:
    slack, aidge = harness.slack, harness.aidge
    event = await harness.drop_image([slack.host_file("mug.jpg", jpeg_bytes(700, 500))], text="product white")
    (posted,) = await wait_for(lambda: slack.file_messages, what="the result")
    assert posted.thread_ts == event["ts"]
    assert [f.filename for f in posted.files] == ["mug-product-white.jpg"]
    assert opened(posted.files[0].data).size == (700, 500)
    assert "Aidge" in posted.initial_comment
    (sent,) = aidge.requests
    assert sent.body_fields == {"backGroundType": "WHITE_BACKGROUND"}
    assert (sent.image_size, sent.from_url, sent.trial) == ((700, 500), False, None)
    assert aidge.rejected == []


async def test_product_target_size_is_the_size_asked_for(harness: Harness) -> None:
    slack = harness.slack
    await harness.drop_image([slack.host_file("lamp.jpg", jpeg_bytes(640, 480))], text="product 800x800")
    (posted,) = await wait_for(lambda: slack.file_messages, what="the result")
    result = opened(posted.files[0].data)
    assert (result.mode, result.size) == ("RGBA", (800, 800))
    assert "640×480 → 800×800 px" in posted.initial_comment
    assert harness.aidge.requests[0].body_fields == {
        "backGroundType": "TRANSPARENT",
        "targetWidth": 800,
        "targetHeight": 800,
    }


async def test_product_reads_the_alibaba_cloud_envelope_and_sends_the_trial_header(tmp_path: Path) -> None:
    async with running_bot(tmp_path, AIDGE_TRIAL="true") as harness:
        harness.aidge.envelope = "pascal"
        await harness.drop_image([harness.slack.host_file("vase.jpg", jpeg_bytes())], text="product")
        (posted,) = await wait_for(lambda: harness.slack.file_messages, what="the result")
        assert posted.files[0].filename == "vase-product-transparent.png"
        assert harness.aidge.requests[0].trial == "true"


async def test_aidge_rate_limit_is_retried_and_content_refusal_is_explained(harness: Harness) -> None:
    slack, aidge = harness.slack, harness.aidge
    aidge.res_code_failures = [(501, "rate limit exceed")]
    await harness.drop_image([slack.host_file("a.jpg", jpeg_bytes())], text="product")
    await wait_for(lambda: slack.file_messages, what="the retried result")
    assert len(aidge.requests) == 2

    aidge.res_code_failures = [(1000, "content has sensitive data, please try other input")]
    event = await harness.drop_image([slack.host_file("b.jpg", jpeg_bytes())], text="product")
    (failure,) = await wait_for(lambda: slack.messages, what="the failure")
    assert failure.thread_ts == event["ts"]
    assert "refused the image's content" in failure.text
    assert "`1000`" in failure.text
    assert len(aidge.requests) == 3  # 1000 is not retried
    assert harness.aidge.app_secret not in failure.text


# --- PicWish: segment -------------------------------------------------------------------------


async def test_segment_posts_one_mask_per_class_found_and_keeps_the_task_id(harness: Harness) -> None:
    slack, picwish = harness.slack, harness.picwish
    event = await harness.drop_image([slack.host_file("outfit.jpg", jpeg_bytes(480, 640))], text="segment")
    (posted,) = await wait_for(lambda: slack.file_messages, what="the masks")
    assert sorted(f.filename for f in posted.files) == [
        "outfit-mask-bottoms.png",
        "outfit-mask-clothes.png",
        "outfit-mask-tops.png",
    ]  # dress and acc are empty in this picture, so not posted
    for file in posted.files:
        mask = opened(file.data)
        assert (mask.mode, mask.size) == ("L", (480, 640))
    (created,) = picwish.created
    assert created.fields == {
        "sync": "0",
        "class_type": "1",
        "detail_mode": "1",
        "output_type": "1",
        "quality": "1",
    }
    assert len(picwish.polls) == 4
    (task,) = await harness.store.tasks_for_message(event["channel"], event["ts"])
    assert task.vendor_task_id == "task-1"
    assert task.state is TaskState.DONE


async def test_segment_with_base64_masks_parts_and_cutouts(harness: Harness) -> None:
    slack, picwish = harness.slack, harness.picwish
    picwish.masks_as = "base64"
    await harness.drop_image(
        [slack.host_file("look.jpg", jpeg_bytes(480, 640))], text="segment fashion ultra hq parts cutouts"
    )
    (posted,) = await wait_for(lambda: slack.file_messages, what="the results")
    names = sorted(f.filename for f in posted.files)
    assert "look-segment-parts.zip" in names
    for cls in ("clothes", "tops", "bottoms"):
        assert f"look-mask-{cls}.png" in names
        assert f"look-cutout-{cls}.png" in names
    by_name = {f.filename: f for f in posted.files}
    cutout = opened(by_name["look-cutout-tops.png"].data)
    assert (cutout.mode, cutout.size) == ("RGBA", (480, 640))
    assert cutout.getpixel((5, 5))[3] == 0
    assert cutout.getpixel((240, 200))[3] == 255  # the upper part of the subject is in "tops"
    assert cutout.getpixel((240, 500))[3] == 0  # the lower part is not
    assert zipfile.ZipFile(io.BytesIO(by_name["look-segment-parts.zip"].data)).namelist()
    assert picwish.created[0].fields == {
        "sync": "0",
        "class_type": "2",
        "detail_mode": "2",
        "output_type": "3",
        "quality": "2",
    }


async def test_segment_failed_state_is_explained_with_its_code(harness: Harness) -> None:
    slack, picwish = harness.slack, harness.picwish
    picwish.fail_with = -7
    event = await harness.drop_image([slack.host_file("bad.jpg", jpeg_bytes())], text="segment")
    (failure,) = await wait_for(lambda: slack.messages, what="the failure")
    assert failure.thread_ts == event["ts"]
    assert "could not read the image" in failure.text
    assert "`STATE_-7`" in failure.text
    assert len(picwish.created) == 1
    await wait_for(lambda: slack.reactions_on(event["channel"], event["ts"]) == {"x"}, what="✗")


async def test_picwish_rate_limit_holds_at_two_requests_a_second(tmp_path: Path) -> None:
    async with running_bot(tmp_path, picwish_qps=2.0, CUTOUT_WORKERS="3") as harness:
        slack = harness.slack
        files = [slack.host_file(f"p{n}.jpg", jpeg_bytes()) for n in range(3)]
        await harness.drop_image(files, text="segment")
        await wait_for(lambda: len(slack.file_messages) == 3, what="three results", timeout=30)
        assert harness.picwish.throttled == 0
        assert len(harness.picwish.created) == 3


# --- full resolution --------------------------------------------------------------------------


async def test_large_image_is_sent_downscaled_and_the_result_restored_to_full_size(harness: Harness) -> None:
    slack, ailab = harness.slack, harness.ailab
    big = encode(product_photo(4200, 3200), "JPEG", quality=85)
    await harness.drop_image([slack.host_file("banner.jpg", big)], text="apparel tops white")
    (posted,) = await wait_for(lambda: slack.file_messages, what="the result", timeout=30)
    (sent,) = ailab.requests
    assert max(sent.size) <= 2999
    assert sent.fields["return_form"] == "mask"  # asked for the mask, to compose at full size
    assert [f.filename for f in posted.files] == ["banner-apparel-white.jpg", "banner-white-tops.jpg"]
    main = opened(posted.files[0].data)
    assert main.size == (4200, 3200)
    assert opened(posted.files[1].data).size == (4200, 3200)  # the class file is restored too
    assert main.getpixel((20, 20)) == (255, 255, 255)
    red = main.getpixel((2100, 1600))
    assert red[0] > 150 and red[1] < 100  # the original's subject pixels, at full size
    assert "4200×3200 px" in posted.initial_comment


async def test_heic_and_too_small_images_through_slack(harness: Harness) -> None:
    slack, ailab = harness.slack, harness.ailab
    heic = slack.host_file("IMG_1.HEIC", encode(product_photo(640, 480), "HEIF"), "image/heic")
    await harness.drop_image([heic], text="apparel")
    (posted,) = await wait_for(lambda: slack.file_messages, what="the HEIC result")
    assert posted.files[0].filename == "IMG_1-apparel-transparent.png"
    assert ailab.requests[0].image_format == "JPEG"

    tiny = slack.host_file("icon.png", encode(product_photo(40, 40), "PNG"), "image/png")
    event = await harness.drop_image([tiny], text="apparel")
    (failure,) = await wait_for(lambda: slack.messages, what="the refusal")
    assert failure.thread_ts == event["ts"]
    assert "40×40" in failure.text and "51×51" in failure.text
    assert len(ailab.requests) == 1  # the tiny image never reached the vendor


# --- URL intake -------------------------------------------------------------------------------


async def test_url_for_aidge_is_handed_to_the_vendor_and_answered_in_a_new_thread(harness: Harness) -> None:
    slack, aidge, web = harness.slack, harness.aidge, harness.web
    url = web.add("catalog/chair.jpg", jpeg_bytes(600, 600), "image/jpeg")
    await harness.command(f"product white {url}")
    (reply,) = await wait_for(lambda: slack.responses, what="the reply")
    assert "Running `product white` on `chair.jpg`" in reply["text"]
    (parent,) = slack.messages
    assert parent.thread_ts is None
    assert url in parent.text
    (posted,) = await wait_for(lambda: slack.file_messages, what="the result")
    assert posted.files[0].filename == "chair-product-white.jpg"
    (sent,) = aidge.requests
    assert sent.from_url is True
    assert sent.body_fields == {"backGroundType": "WHITE_BACKGROUND", "imageUrl": url}
    (task,) = await harness.store.user_tasks("U0ALICE")
    assert task.source is TaskSource.URL
    assert posted.thread_ts == task.thread_ts == task.message_ts
    assert web.requests == ["catalog/chair.jpg"]  # fetched once, by the vendor


async def test_url_for_ailab_is_downloaded_by_the_bot_through_a_redirect(harness: Harness) -> None:
    slack, web = harness.slack, harness.web
    target = web.add("img/shirt.png", encode(product_photo(500, 400), "PNG"), "image/png")
    url = web.redirect("go/shirt", target)
    await harness.command(f"apparel mask {url}")
    (posted,) = await wait_for(lambda: slack.file_messages, what="the result")
    assert posted.files[0].filename == "shirt-apparel-mask.png"
    assert web.requests == ["go/shirt", "img/shirt.png"]
    assert harness.ailab.requests[0].size == (500, 400)


async def test_url_for_picwish_is_handed_over_and_cutouts_still_use_the_original(harness: Harness) -> None:
    slack, picwish, web = harness.slack, harness.picwish, harness.web
    url = web.add("look.jpg", jpeg_bytes(480, 640), "image/jpeg")
    await harness.command(f"segment cutouts {url}")
    (posted,) = await wait_for(lambda: slack.file_messages, what="the result")
    assert picwish.created[0].from_url is True
    assert "look-cutout-clothes.png" in [f.filename for f in posted.files]


async def test_url_that_is_a_web_page_fails_clearly(harness: Harness) -> None:
    slack, web = harness.slack, harness.web
    url = web.add("gallery.html", b"<!doctype html><html><body>photos</body></html>", "text/html")
    await harness.command(f"apparel {url}")
    (_, failure) = await wait_for(lambda: len(slack.messages) == 2 and slack.messages, what="the failure")
    assert failure.thread_ts is not None
    assert "text/html, not an image" in failure.text
    assert harness.ailab.requests == []


async def test_private_and_plain_http_urls_are_refused_without_queueing(tmp_path: Path) -> None:
    async with running_bot(tmp_path, CUTOUT_ALLOW_PRIVATE_URLS="false") as harness:
        slack = harness.slack
        for url in ("https://127.0.0.1/a.png", "https://169.254.169.254/latest", "http://example.com/a.png"):
            await harness.command(f"product {url}")
        replies = await wait_for(lambda: len(slack.responses) == 3 and slack.responses, what="three refusals")
        assert "private or local address" in replies[0]["text"]
        assert "private or local address" in replies[1]["text"]
        assert "Only https://" in replies[2]["text"]
        assert all("Nothing was queued" in r["text"] for r in replies)
        assert slack.messages == []
        assert await harness.store.user_tasks("U0ALICE") == []


# --- the local engine -------------------------------------------------------------------------


async def test_a_mode_without_a_vendor_key_runs_on_the_local_engine(tmp_path: Path) -> None:
    async with running_bot(tmp_path, AILAB_API_KEY="") as harness:
        slack = harness.slack
        event = await harness.drop_image(
            [slack.host_file("tee.png", encode(product_photo(600, 450), "PNG"), "image/png")],
            text="apparel white",
        )
        (posted,) = await wait_for(lambda: slack.file_messages, what="the result")
        assert posted.thread_ts == event["ts"]
        assert "local engine" in posted.initial_comment
        result = opened(posted.files[0].data)
        assert result.size == (600, 450)
        assert min(result.getpixel((5, 5))) > 245 and result.getpixel((300, 225))[0] > 150
        (task,) = await harness.store.tasks_for_message(event["channel"], event["ts"])
        assert task.vendor == "local engine"


async def test_the_word_local_keeps_the_image_off_the_vendor(harness: Harness) -> None:
    slack = harness.slack
    await harness.drop_image(
        [slack.host_file("secret.png", encode(product_photo(500, 400), "PNG"), "image/png")],
        text="product local",
    )
    (posted,) = await wait_for(lambda: slack.file_messages, what="the result")
    assert "local engine" in posted.initial_comment
    assert harness.aidge.requests == []  # an unreleased product never left the company


async def test_a_busy_background_is_cut_by_the_shipped_model(tmp_path: Path) -> None:
    from fakes.scenes import scene

    made = scene("product", "busy", (600, 450), seed=1)
    async with running_bot(tmp_path, AILAB_API_KEY="") as harness:
        busy = encode(Image.fromarray(made.image), "PNG")
        await harness.drop_image(
            [harness.slack.host_file("room.png", busy, "image/png")], text="apparel mask"
        )
        (posted,) = await wait_for(lambda: harness.slack.file_messages, what="the result")
        assert "local engine" in posted.initial_comment
        assert "check the cut-out" not in posted.initial_comment  # the model was sure, and right
        mask = np.asarray(opened(posted.files[0].data).convert("L"), np.float32) / 255
        cut, truth = mask >= 0.5, made.alpha >= 0.5
        assert (cut & truth).sum() / (cut | truth).sum() >= 0.9  # the classical engine alone: about 0.3


async def test_an_uncertain_cut_out_is_said_in_the_summary(tmp_path: Path) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (450, 600, 3), dtype=np.uint8)
    async with running_bot(tmp_path, AILAB_API_KEY="") as harness:
        image = encode(Image.fromarray(noise), "PNG")
        await harness.drop_image(
            [harness.slack.host_file("noise.png", image, "image/png")], text="product local"
        )
        (posted,) = await wait_for(lambda: harness.slack.file_messages, what="the result")
        assert "unsure of parts of the subject" in posted.initial_comment
        assert "check the cut-out" in posted.initial_comment
