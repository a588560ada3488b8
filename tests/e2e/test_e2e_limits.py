"""End to end: usage limits, the usage report and who may change settings (issue 17) — a limit reached is
told with when it resets and that `local` works, exact under a burst; `/cutout usage`; a non-admin's
`default` refused, an admin's taken."""

from __future__ import annotations

from pathlib import Path

from bot.domain.tasks import TaskState
from fakes.images import jpeg_bytes
from fakes.net import wait_for
from tests.e2e.harness import Harness, running_bot


async def reply(harness: Harness, text: str, *, user: str = "U0ALICE") -> str:
    before = len(harness.slack.responses)
    await harness.command(text, user=user)
    (answer,) = await wait_for(lambda: harness.slack.responses[before:], what=f"the reply to {text!r}")
    return str(answer["text"])


async def test_a_limit_refuses_images_past_it_exactly_under_a_burst(tmp_path: Path) -> None:
    async with running_bot(tmp_path, CUTOUT_WORKERS="8") as harness:
        slack, ailab = harness.slack, harness.ailab
        assert "Set: the channel <#C0GENERAL>: 3 images a day" in await reply(harness, "limit channel 3 day")
        for n in range(10):  # ten images at once, more than the limit
            await harness.drop_image([slack.host_file(f"shirt{n}.jpg", jpeg_bytes(400, 300))], text="apparel")
        await wait_for(
            lambda: len(slack.file_messages) + len(slack.messages) == 10,
            what="every image answered",
            timeout=30,
        )
        assert len(ailab.requests) == 3  # no overshoot
        assert len(slack.file_messages) == 3
        refused = slack.messages
        assert len(refused) == 7
        for message in refused:
            assert "not sent to AILabTools" in message.text
            assert "the channel's limit of 3 images a day is reached" in message.text
            assert "resets at 00:00 UTC" in message.text and "`local`" in message.text
        tasks = await harness.store.user_tasks("U0ALICE", limit=20)
        assert sorted(t.state for t in tasks).count(TaskState.FAILED) == 7
        await harness.drop_image([slack.host_file("more.jpg", jpeg_bytes(400, 300))], text="apparel local")
        await wait_for(lambda: len(slack.file_messages) == 4, what="the local cut past the limit")
        assert len(ailab.requests) == 3
        usage = await reply(harness, "usage")
        assert "3 image(s) sent to paid vendors, about $0.01" in usage  # 3 × $0.003
        assert "AILabTools 3" in usage and "<#C0GENERAL> 3" in usage and "<@U0ALICE> 3" in usage
        assert "1 cut on the local engine" in usage
        assert "3 images a day" in await reply(harness, "limit")
        assert "removed" in await reply(harness, "limit channel off")
        assert "No limits are set" in await reply(harness, "limit")


async def test_only_admins_change_settings_when_slack_says_who_they_are(tmp_path: Path) -> None:
    async with running_bot(tmp_path, CUTOUT_ADMINS="U0CAROL") as harness:
        harness.slack.members = {"U0BOSS": {"is_admin": True}}
        refused = await reply(harness, "default portrait white")
        assert "Only <@U0CAROL> and the workspace's admins and owners can change this" in refused
        assert (await harness.store.channel_settings("C0GENERAL")).default_spec is None
        assert "Only" in await reply(harness, "limit workspace 5 day")
        assert await harness.store.limits() == []
        assert "now run `portrait white`" in await reply(harness, "default portrait white", user="U0BOSS")
        assert "Auto-processing is off" in await reply(harness, "auto off", user="U0CAROL")
        assert "No limits are set" in await reply(harness, "limit")  # reading stays open
        assert "U0CAROL" in await reply(harness, "help")


async def test_settings_stay_open_without_admins_or_an_admin_flag(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as harness:  # no CUTOUT_ADMINS; the fake app has no users:read
        assert "now run `product white`" in await reply(harness, "default product white")
        assert "by everyone when the bot cannot read who they are" in await reply(harness, "help")
