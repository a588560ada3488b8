"""End to end: routing between engines on the vendors' own codes (issue 17) — a vendor out of credits sends
the task to the next engine of its route and is left out for CUTOUT_BREAKER_S (no second knock), then
probed; a rate limit is retried at the same vendor, never routed; a route without the local engine fails
clearly; PicWish's clothing masks make an apparel result."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fakes.images import jpeg_bytes
from fakes.net import wait_for
from tests import fault_report
from tests.e2e.harness import Harness, running_bot


async def drop(harness: Harness, name: str, text: str = "apparel") -> dict:
    return await harness.drop_image([harness.slack.host_file(name, jpeg_bytes(800, 600))], text=text)


async def test_no_credits_sends_the_task_on_and_leaves_the_vendor_out(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as harness:
        slack, ailab = harness.slack, harness.ailab
        ailab.fail_next(429, "ERROR_NOT_ENOUGH_CREDITS", "Insufficient credits")  # AILabTools' 429 for money
        first = await drop(harness, "shirt.jpg")
        (posted,) = await wait_for(lambda: slack.file_messages, what="the first result")
        assert posted.thread_ts == first["ts"]
        assert "local engine" in posted.initial_comment
        assert "AILabTools has no credits left" in posted.initial_comment
        assert "cut on the local engine" in posted.initial_comment
        assert len(ailab.requests) == 1
        await drop(harness, "dress.jpg")  # within the breaker's time: not sent to AILabTools at all
        await wait_for(lambda: len(slack.file_messages) == 2, what="the second result")
        assert len(ailab.requests) == 1  # no second knock
        assert "AILabTools has no credits left" in slack.file_messages[1].initial_comment
        tasks = await harness.store.user_tasks("U0ALICE")
        assert {t.vendor for t in tasks} == {"local engine"} and all(t.state.value == "done" for t in tasks)
        assert slack.messages == []  # no failure told
    fault_report.survived("AILabTools out of credits (routed)")


async def test_after_the_breakers_time_one_task_probes_and_the_vendor_is_back(tmp_path: Path) -> None:
    async with running_bot(tmp_path, CUTOUT_BREAKER_S="1") as harness:
        slack, ailab = harness.slack, harness.ailab
        ailab.fail_next(403, "ERROR_USER_LOCKED", "User locked")
        await drop(harness, "a.jpg")
        await wait_for(lambda: slack.file_messages, what="the first result")
        assert "AILabTools refused the account" in slack.file_messages[0].initial_comment
        await asyncio.sleep(1.1)  # the breaker's time (1 s) runs out
        await drop(harness, "b.jpg")
        await wait_for(lambda: len(slack.file_messages) == 2, what="the probe's result")
        assert len(ailab.requests) == 2  # the probe went to AILabTools, which answered
        assert "AILabTools" in slack.file_messages[1].initial_comment
        assert "refused the account" not in slack.file_messages[1].initial_comment
        await drop(harness, "c.jpg")
        await wait_for(lambda: len(slack.file_messages) == 3, what="the third result")
        assert len(ailab.requests) == 3  # back in the route


async def test_a_rate_limit_is_retried_at_the_same_vendor_never_routed(tmp_path: Path) -> None:
    async with running_bot(tmp_path, CUTOUT_RETRY_BASE_S="0.01") as harness:
        slack, ailab = harness.slack, harness.ailab
        ailab.fail_next(429, "EXCEEDING_LIMITS", "Exceeds limit", times=2)  # 429 too, but for speed
        await drop(harness, "shirt.jpg")
        (posted,) = await wait_for(lambda: slack.file_messages, what="the result")
        assert "AILabTools" in posted.initial_comment and "local engine" not in posted.initial_comment
        assert len(ailab.requests) == 3
        await drop(harness, "dress.jpg")
        await wait_for(lambda: len(slack.file_messages) == 2, what="the second result")
        assert len(ailab.requests) == 4  # no breaker was opened


async def test_without_local_in_the_route_the_failure_says_why(tmp_path: Path) -> None:
    async with running_bot(tmp_path, CUTOUT_ROUTES="apparel=ailab") as harness:
        slack, ailab = harness.slack, harness.ailab
        ailab.fail_next(401, "ERROR_APPLICATIONS_NOT_EXISTS", "The application does not exist.")
        await drop(harness, "shirt.jpg")
        (told,) = await wait_for(lambda: slack.messages, what="the failure")
        assert "AILabTools rejected the API key" in told.text
        assert "CUTOUT_ROUTES" in told.text and "the word `local`" in told.text
        assert "ERROR_APPLICATIONS_NOT_EXISTS" in told.text  # the vendor's own code, as always
        assert slack.file_messages == []
        await drop(harness, "dress.jpg")
        await wait_for(lambda: len(slack.messages) == 2, what="the second failure")
        assert len(ailab.requests) == 1  # left out, not asked again
        assert "AILabTools rejected its API key" in slack.messages[1].text


async def test_picwish_masks_make_the_apparel_result_when_ailabtools_is_out(tmp_path: Path) -> None:
    async with running_bot(tmp_path, CUTOUT_ROUTES="apparel=ailab,picwish,local") as harness:
        slack, ailab, picwish = harness.slack, harness.ailab, harness.picwish
        ailab.fail_next(429, "ERROR_NOT_ENOUGH_CREDITS", "Insufficient credits")
        await drop(harness, "look.jpg", text="apparel white")
        (posted,) = await wait_for(lambda: slack.file_messages, what="the result", timeout=20)
        assert [f.filename for f in posted.files] == ["look-apparel-white.jpg"]
        assert "cut on PicWish" in posted.initial_comment
        (created,) = picwish.created
        assert created.fields.get("class_type") == "1"  # clothing
        (task,) = await harness.store.user_tasks("U0ALICE")
        assert task.vendor == "PicWish" and task.state.value == "done"
