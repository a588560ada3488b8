"""Running the fakes and the real bot as processes for benchmarks, and reading the bot's memory."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent


def _env(extra: dict[str, str]) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **extra}


@dataclass
class Fakes:
    info: dict[str, str]
    process: asyncio.subprocess.Process

    async def host_files(self, data: bytes, count: int, name: str, mimetype: str) -> list[dict[str, Any]]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{self.info['control']}/files",
                params={"count": count, "name": name, "mimetype": mimetype},
                data=data,
            ) as reply,
        ):
            return await reply.json()

    async def message(
        self, files: list[dict[str, Any]], text: str, *, channel: str = "C0BENCH", user: str = "U0BENCH"
    ) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{self.info['control']}/message",
                json={"files": files, "text": text, "channel": channel, "user": user},
            ) as reply,
        ):
            return await reply.json()

    async def stats(self) -> dict[str, int]:
        async with aiohttp.ClientSession() as session, session.get(f"{self.info['control']}/stats") as reply:
            return await reply.json()


@contextlib.asynccontextmanager
async def fakes(*, latency: float, picwish_qps: float = 2.0) -> AsyncIterator[Fakes]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.fakes_server", "--vendor-latency", str(latency), "--picwish-qps", str(picwish_qps),
        cwd=ROOT, env=_env({}), stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    info = json.loads(await asyncio.wait_for(process.stdout.readline(), 30))
    try:
        yield Fakes(info, process)
    finally:
        process.send_signal(signal.SIGTERM)
        await process.wait()


@dataclass
class Bot:
    process: asyncio.subprocess.Process
    port: int
    signing_secret: str
    log: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    def memory_mb(self) -> tuple[float, float]:
        """(current RSS, peak RSS) of the bot process, in MB."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        peak = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        return rss / 1024, peak / 1024


@contextlib.asynccontextmanager
async def bot(fakes: Fakes, **settings: str) -> AsyncIterator[Bot]:
    info = fakes.info
    with tempfile.TemporaryDirectory(prefix="cutout-bench-") as work:
        env = _env(
            {
                "SLACK_BOT_TOKEN": info["bot_token"],
                "SLACK_SIGNING_SECRET": info["signing_secret"],
                "SLACK_API_URL": info["slack_api"],
                "PORT": "0",
                "CUTOUT_HOST": "127.0.0.1",
                "AILAB_API_KEY": info["ailab_key"],
                "AILAB_BASE_URL": info["ailab"],
                "AIDGE_APP_KEY": info["aidge_key"],
                "AIDGE_APP_SECRET": info["aidge_secret"],
                "AIDGE_BASE_URL": info["aidge"],
                "PICWISH_API_KEY": info["picwish_key"],
                "PICWISH_BASE_URL": info["picwish"],
                "CUTOUT_ALLOW_PRIVATE_URLS": "true",
                "CUTOUT_DB_PATH": f"{work}/cutout.db",
                "CUTOUT_DATA_DIR": f"{work}/data",
                **settings,
            }
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=work, env=env, stderr=asyncio.subprocess.PIPE
        )
        handle = Bot(process, 0, info["signing_secret"])
        port = asyncio.get_running_loop().create_future()
        drain = asyncio.create_task(_drain(handle, port))
        try:
            handle.port = await asyncio.wait_for(port, 30)
            yield handle
        finally:
            process.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 30)
            if process.returncode is None:
                process.kill()
                await process.wait()
            await drain


async def _drain(handle: Bot, port: asyncio.Future[int]) -> None:
    stream = handle.process.stderr
    assert stream is not None
    while line := (await stream.readline()).decode():
        handle.log.append(line)
        if not port.done() and (match := re.search(r"listening for Slack on http://[\d.]+:(\d+)", line)):
            port.set_result(int(match.group(1)))
    if not port.done():
        port.set_exception(RuntimeError("the bot ended before listening:\n" + "".join(handle.log[-20:])))
