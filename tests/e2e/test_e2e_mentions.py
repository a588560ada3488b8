"""End to end: an image whose caption mentions a colleague runs the channel default, with no error."""

from __future__ import annotations

from fakes.images import jpeg_bytes
from fakes.net import wait_for
from tests.e2e.harness import Harness


async def test_a_caption_mentioning_a_colleague_runs_the_channel_default(harness: Harness) -> None:
    slack = harness.slack
    await harness.drop_image([slack.host_file("shirt.jpg", jpeg_bytes())], text="<@U0ANA> check this shirt")
    (posted,) = await wait_for(lambda: slack.file_messages, what="the default's result")
    assert [f.filename for f in posted.files] == ["shirt-apparel-transparent.png"]  # CUTOUT_DEFAULT_SPEC
    assert slack.ephemerals == []  # nobody was told the caption is not a spec
