"""Running the fakes and the real bot as processes for benchmarks, and reading their memory and CPU time."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
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

    @property
    def instance(self) -> str | None:
        """The name the bot gave itself on PostgreSQL (its log says it at start)."""
        for line in self.log:
            if match := re.search(r"on PostgreSQL as instance (\S+)", line):
                return match.group(1)
        return None

    async def kill(self) -> None:
        """`kill -9`: no shutdown, its tasks left as they stand."""
        self.process.kill()
        await self.process.wait()

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
            if process.returncode is None:  # not killed by the benchmark
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


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (all its threads); 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (a PostgreSQL server's backends)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def machine_ticks() -> tuple[int, int]:
    """(busy, all) CPU ticks of the whole machine since boot, every core summed."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values) - idle, sum(values)


class CpuMeter:
    """The cores used by groups of processes between `start()` and `stop()`, and by the whole machine. A
    group is a function naming its processes now; one started in between counts from zero, and one that
    ended in between is not counted."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self._groups = groups
        self._before: dict[int, float] = {}
        self._machine = (0, 0)
        self._started = 0.0

    def _sample(self) -> dict[str, dict[int, float]]:
        return {name: {pid: cpu_seconds(pid) for pid in pids()} for name, pids in self._groups.items()}

    def start(self) -> None:
        self._before = {pid: s for group in self._sample().values() for pid, s in group.items()}
        self._machine = machine_ticks()
        self._started = time.monotonic()

    def stop(self) -> dict[str, float]:
        """Cores used on average by each group; `machine`: by every process on the machine, ours or not."""
        seconds = time.monotonic() - self._started
        used = {
            name: sum(s - self._before.get(pid, 0.0) for pid, s in group.items()) / seconds
            for name, group in self._sample().items()
        }
        busy, total = machine_ticks()
        used["machine"] = (os.cpu_count() or 1) * (busy - self._machine[0]) / max(1, total - self._machine[1])
        return used
