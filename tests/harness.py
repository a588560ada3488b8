"""The real bot, started as `cutout-bot` starts it, between a fake Slack and a fake AILabTools."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.config import Config
from bot.server import EVENTS_PATH, Bot
from storage import Store
from tests.fakes.ailab import FakeAILab
from tests.fakes.slack import FakeSlack


@dataclass
class Harness:
    slack: FakeSlack
    ailab: FakeAILab
    bot: Bot
    config: Config

    @property
    def bot_url(self) -> str:
        return f"http://127.0.0.1:{self.bot.port}{EVENTS_PATH}"

    @property
    def store(self) -> Store:
        assert self.bot.store is not None
        return self.bot.store

    async def drop_image(self, files: list[dict], **message: object) -> dict:
        """A user posts images: Slack sends the `file_share` event to the bot. Returns the event."""
        event = self.slack.image_message(files, **message)  # type: ignore[arg-type]
        status = await self.slack.send_event(self.bot_url, event)
        assert status == 200
        return event

    async def command(self, text: str, **who: str) -> None:
        assert await self.slack.send_command(self.bot_url, text, **who) == 200


def bot_environment(slack: FakeSlack, ailab: FakeAILab, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": slack.signing_secret,
        "SLACK_API_URL": slack.api_url,
        "PORT": "0",
        "CUTOUT_HOST": "127.0.0.1",
        "AILAB_API_KEY": ailab.api_key,
        "AILAB_BASE_URL": ailab.url,
        "CUTOUT_DB_PATH": str(tmp_path / "state" / "cutout.db"),
        "CUTOUT_DATA_DIR": str(tmp_path / "state" / "data"),
        "CUTOUT_DEFAULT_SPEC": "apparel",
        "CUTOUT_ALLOW_PRIVATE_URLS": "true",  # the fakes live on 127.0.0.1
        **extra,
    }


@asynccontextmanager
async def running_bot(tmp_path: Path, **extra: str) -> AsyncIterator[Harness]:
    slack = await FakeSlack().start()
    ailab = await FakeAILab().start()
    config = Config.from_env(bot_environment(slack, ailab, tmp_path, **extra), env_file=None)
    bot = Bot(config)
    try:
        await bot.start()
        yield Harness(slack, ailab, bot, config)
    finally:
        await bot.stop(grace_s=2)
        await ailab.stop()
        await slack.stop()
