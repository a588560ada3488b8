"""Fault injection against every vendor: 500, 503, 429 with Retry-After, a timeout, a dropped connection
and malformed JSON are each retried and survived; a fault that does not clear ends in a clear failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain.tasks import TaskState
from fakes.faults import FAULTS, Faults
from fakes.images import jpeg_bytes
from fakes.net import wait_for
from tests import fault_report
from tests.e2e.harness import Harness, running_bot

VENDORS = {  # the spec each vendor runs, and how to reach the fake's fault script
    "AILabTools": ("apparel", lambda h: h.ailab.faults, lambda h: len(h.ailab.requests)),
    "Aidge": ("product", lambda h: h.aidge.faults, lambda h: len(h.aidge.requests)),
    "PicWish": ("segment", lambda h: h.picwish.faults, lambda h: len(h.picwish.created)),
}
FAST_FAULTS = {"CUTOUT_VENDOR_TIMEOUT_S": "1", "CUTOUT_RETRY_BASE_S": "0.05"}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("vendor", list(VENDORS))
async def test_each_vendor_survives_each_fault(tmp_path: Path, vendor: str, fault: str) -> None:
    spec, faults_of, jobs_of = VENDORS[vendor]
    async with running_bot(tmp_path, **FAST_FAULTS) as harness:
        faults: Faults = faults_of(harness)
        faults.add(fault)
        event = await harness.drop_image([harness.slack.host_file("f.jpg", jpeg_bytes())], text=spec)
        (posted,) = await wait_for(lambda: harness.slack.file_messages, what="the result", timeout=20)
        assert posted.thread_ts == event["ts"]
        await harness.bot.runner.run_until_idle()  # type: ignore[union-attr]
        (task,) = await harness.store.tasks_for_message(event["channel"], event["ts"])
        assert task.state is TaskState.DONE
        assert [f for f, _ in faults.injected] == [fault]
        assert harness.slack.messages == []  # no failure was told
        assert jobs_of(harness) == 1  # the vendor did the work once
        if fault == "429":
            (_, refused_at) = faults.injected[0]
            assert faults.answered_at[0] - refused_at >= 1.0  # Retry-After: 1 was honoured
        assert len(harness.slack.file_messages) == 1
    fault_report.survived(f"{vendor} {fault}")
    fault_report.tasks_checked(1, lost=0, duplicate_vendor_calls=jobs_of(harness) - 1)


async def test_a_fault_that_does_not_clear_ends_in_a_clear_failure_after_the_bounded_tries(
    tmp_path: Path,
) -> None:
    async with running_bot(tmp_path, CUTOUT_RETRY_ATTEMPTS="3", **FAST_FAULTS) as harness:
        harness.ailab.faults.add("503", "503", "503", "503")
        event = await harness.drop_image([harness.slack.host_file("down.jpg", jpeg_bytes())], text="apparel")
        (failure,) = await wait_for(lambda: harness.slack.messages, what="the failure")
        assert failure.thread_ts == event["ts"]
        assert "AILabTools is having trouble right now and still was after several tries" in failure.text
        assert "`HTTP_503`" in failure.text
        assert len(harness.ailab.faults.injected) == 3  # CUTOUT_RETRY_ATTEMPTS
        assert harness.ailab.faults.script == ["503"]
        (task,) = await harness.store.tasks_for_message(event["channel"], event["ts"])
        assert (task.state, task.error_code) == (TaskState.FAILED, "HTTP_503")


async def test_slack_rate_limits_on_uploads_and_messages_are_retried(harness: Harness) -> None:
    slack = harness.slack
    for method in ("files.getUploadURLExternal", "files.completeUploadExternal", "reactions.add"):
        slack.rate_limit_next[method] = 1
    event = await harness.drop_image([slack.host_file("r.jpg", jpeg_bytes())], text="apparel")
    (posted,) = await wait_for(lambda: slack.file_messages, what="the result", timeout=20)
    assert posted.thread_ts == event["ts"]
    assert all(count == 0 for count in slack.rate_limit_next.values())
    slack.rate_limit_next["chat.postMessage"] = 1
    harness.ailab.fail_next(422, "ERROR_NO_RECOGNITION_TARGET_DETECTED", "no target")
    second = await harness.drop_image([slack.host_file("s.jpg", jpeg_bytes())], text="apparel")
    (failure,) = await wait_for(lambda: slack.messages, what="the failure message", timeout=20)
    assert failure.thread_ts == second["ts"]
    await harness.bot.runner.run_until_idle()  # type: ignore[union-attr]
    assert len(slack.file_messages) == 1
    for fault in ("getUploadURLExternal", "completeUploadExternal", "reactions.add", "chat.postMessage"):
        fault_report.survived(f"Slack 429 {fault}")
