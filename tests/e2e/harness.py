"""The real bot, started as `cutout-bot` starts it, between a fake Slack and fake vendors."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.config import Config
from bot.server import EVENTS_PATH, Bot
from bot.tasks.progress import DEFAULT_PACING, Pacing
from fakes.aidge import FakeAidge
from fakes.ailab import FakeAILab
from fakes.picwish import FakePicWish
from fakes.slack import FakeSlack
from fakes.web import FakeWeb
from handlers.services import FILE_SHARED_WAIT_S
from storage import Store
from tests.paths import ROOT


@dataclass
class Fakes:
    slack: FakeSlack
    ailab: FakeAILab
    aidge: FakeAidge
    picwish: FakePicWish
    web: FakeWeb

    @classmethod
    async def start(cls, *, picwish_qps: float = 20.0) -> Fakes:
        return cls(
            await FakeSlack().start(),
            await FakeAILab().start(),
            await FakeAidge().start(),
            await FakePicWish(qps=picwish_qps).start(),
            await FakeWeb().start(),
        )

    async def stop(self) -> None:
        for fake in (self.web, self.picwish, self.aidge, self.ailab, self.slack):
            await fake.stop()

    def environment(self, tmp_path: Path, **extra: str) -> dict[str, str]:
        return {
            "SLACK_BOT_TOKEN": self.slack.bot_token,
            "SLACK_SIGNING_SECRET": self.slack.signing_secret,
            "SLACK_API_URL": self.slack.api_url,
            "PORT": "0",
            "CUTOUT_HOST": "127.0.0.1",
            "AILAB_API_KEY": self.ailab.api_key,
            "AILAB_BASE_URL": self.ailab.url,
            "AIDGE_APP_KEY": self.aidge.app_key,
            "AIDGE_APP_SECRET": self.aidge.app_secret,
            "AIDGE_BASE_URL": self.aidge.base_url,
            "PICWISH_API_KEY": self.picwish.api_key,
            "PICWISH_BASE_URL": self.picwish.url,
            "PICWISH_QPS": str(self.picwish.qps),
            "PICWISH_POLL_INTERVAL_S": "0.05",
            "CUTOUT_RETRY_BASE_S": "0.05",
            "CUTOUT_DB_PATH": str(tmp_path / "state" / "cutout.db"),
            "CUTOUT_DATA_DIR": str(tmp_path / "state" / "data"),
            "CUTOUT_DEFAULT_SPEC": "apparel",
            "CUTOUT_ALLOW_PRIVATE_URLS": "true",  # the fakes live on 127.0.0.1
            **extra,
        }

    def secrets(self) -> list[str]:
        return [
            self.slack.bot_token,
            self.slack.signing_secret,
            self.ailab.api_key,
            self.aidge.app_secret,
            self.picwish.api_key,
        ]


@dataclass
class Harness:
    fakes: Fakes
    bot: Bot
    config: Config

    @property
    def slack(self) -> FakeSlack:
        return self.fakes.slack

    @property
    def ailab(self) -> FakeAILab:
        return self.fakes.ailab

    @property
    def aidge(self) -> FakeAidge:
        return self.fakes.aidge

    @property
    def picwish(self) -> FakePicWish:
        return self.fakes.picwish

    @property
    def web(self) -> FakeWeb:
        return self.fakes.web

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


@asynccontextmanager
async def running_bot(
    tmp_path: Path,
    *,
    picwish_qps: float = 20.0,
    pacing: Pacing = DEFAULT_PACING,
    file_shared_wait_s: float = FILE_SHARED_WAIT_S,
    **extra: str,
) -> AsyncIterator[Harness]:
    """`extra`: environment variables for the bot; `pacing`, `file_shared_wait_s`: shorter waits."""
    fakes = await Fakes.start(picwish_qps=picwish_qps)
    config = Config.from_env(fakes.environment(tmp_path, **extra), env_file=None)
    bot = Bot(config, pacing=pacing, file_shared_wait_s=file_shared_wait_s)
    try:
        await bot.start()
        yield Harness(fakes, bot, config)
    finally:
        await bot.stop(grace_s=2)
        await fakes.stop()


class BotProcess:
    """`python -m bot` with its stderr drained into `log`."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self._env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **env}
        self._cwd = cwd
        self.log: list[str] = []
        self.process: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    @property
    def instance(self) -> str | None:
        """The name the process gave itself on PostgreSQL (its log says it at start)."""
        for line in self.log:
            if match := re.search(r"on PostgreSQL as instance (\S+)", line):
                return match.group(1)
        return None

    async def start(self) -> BotProcess:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=self._cwd, env=self._env, stderr=asyncio.subprocess.PIPE
        )
        listening = asyncio.get_running_loop().create_future()
        self._drain = asyncio.create_task(self._read(listening))
        self.port = await asyncio.wait_for(listening, 20)
        return self

    async def _read(self, listening: asyncio.Future[int]) -> None:
        assert self.process is not None and self.process.stderr is not None
        while line := (await self.process.stderr.readline()).decode():
            self.log.append(line)
            if not listening.done() and (
                match := re.search(r"listening for Slack on http://[\d.]+:(\d+)", line)
            ):
                listening.set_result(int(match.group(1)))
        if not listening.done():
            listening.set_exception(AssertionError("the bot ended before listening:\n" + "".join(self.log)))

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        if self._drain is not None:
            await self._drain

    async def terminate(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), 30)
        if self._drain is not None:
            await self._drain
        return code
