"""The real process: `python -m bot` starts, serves, shuts down on SIGTERM, and never writes a secret."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from fakes.images import jpeg_bytes
from fakes.net import wait_for
from tests.e2e.harness import Fakes
from tests.paths import ROOT


async def start_process(env: dict[str, str], cwd: Path, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def read_until(
    stream: asyncio.StreamReader, pattern: str, seen: list[str], timeout_s: float = 20
) -> re.Match:
    async def scan() -> re.Match:
        while line := (await stream.readline()).decode():
            seen.append(line)
            if match := re.search(pattern, line):
                return match
        raise AssertionError("the process ended before printing " + pattern + "\n" + "".join(seen))

    return await asyncio.wait_for(scan(), timeout_s)


async def test_bot_process_serves_then_stops_on_sigterm_without_leaking_secrets(tmp_path: Path) -> None:
    fakes = await Fakes.start()
    slack = fakes.slack
    env = fakes.environment(tmp_path, CUTOUT_LOG_LEVEL="DEBUG")
    process = await start_process(env, tmp_path)
    log: list[str] = []
    try:
        assert process.stderr is not None
        match = await read_until(
            process.stderr, r"listening for Slack on http://127\.0\.0\.1:(\d+)/slack/events", log
        )
        port = int(match.group(1))
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/healthz") as health,
        ):
            assert health.status == 200
            assert await health.json() == {"ok": True, "queued": 0}

        event = slack.image_message([slack.host_file("p.jpg", jpeg_bytes())], text="apparel hat mask")
        assert await slack.send_event(f"http://127.0.0.1:{port}/slack/events", event) == 200
        await wait_for(lambda: slack.file_messages, what="the result", timeout=20)
        await wait_for(
            lambda: "white_check_mark" in slack.reactions_on(event["channel"], event["ts"]), what="✓"
        )
        # Every vendor, a vendor failure and a URL command, so every secret has a chance to leak.
        bot_url = f"http://127.0.0.1:{port}/slack/events"
        for text in ("product white", "segment cutouts"):
            await slack.send_event(
                bot_url, slack.image_message([slack.host_file("q.jpg", jpeg_bytes())], text=text)
            )
        fakes.ailab.fail_next(401, "ERROR_APPLICATIONS_NOT_EXISTS", "The application does not exist.")
        await slack.send_event(
            bot_url, slack.image_message([slack.host_file("r.jpg", jpeg_bytes())], text="portrait")
        )
        url = fakes.web.add("s.jpg", jpeg_bytes(), "image/jpeg")
        await slack.send_command(bot_url, f"product {url}")
        await wait_for(lambda: len(slack.file_messages) == 5, what="every answer", timeout=30)
        # the rejected key sent the portrait on to the local engine, saying why
        assert any("AILabTools rejected its API key" in m.initial_comment for m in slack.file_messages)

        process.send_signal(signal.SIGTERM)
        remaining = (await asyncio.wait_for(process.stderr.read(), 20)).decode()
        assert await asyncio.wait_for(process.wait(), 20) == 0
        log.append(remaining)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await fakes.stop()
    text = "".join(log)
    assert "stopped" in text
    assert "task 1 apparel AILabTools: posted 2 file(s)" in text
    secrets = fakes.secrets()
    for secret in secrets:
        assert secret not in text, "a secret reached the log"
    state = tmp_path / "state"
    for path in state.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in data, f"a secret reached {path.name}"
    assert oct((state / "cutout.db").stat().st_mode & 0o777) == oct(0o600)
    assert oct((state / "data").stat().st_mode & 0o777) == oct(0o700)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "cutout-bot: SLACK_BOT_TOKEN is not set"),
        (
            {"SLACK_BOT_TOKEN": "xoxp-leaky-user-token"},
            "cutout-bot: SLACK_BOT_TOKEN should be a bot token that starts with xoxb-",
        ),
        ({"SLACK_BOT_TOKEN": "xoxb-1-secret"}, "cutout-bot: SLACK_SIGNING_SECRET is not set"),
        (
            {"SLACK_BOT_TOKEN": "xoxb-1-secret", "SLACK_SIGNING_SECRET": "s3cr3t", "PORT": "http"},
            "cutout-bot: PORT should be a whole number",
        ),
    ],
)
async def test_bad_configuration_stops_start_up_with_one_line(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    process = await start_process(
        env, tmp_path, "run"
    )  # `run` starts the bot; a bare start without a token runs the sample
    _, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 2
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(expected)
    for value in env.values():
        if value not in ("http",):
            assert value not in lines[0]


async def test_dotenv_file_in_the_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-from-dotenv\n")
    process = await start_process({}, tmp_path)
    _, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 2
    assert stderr.decode().startswith(
        "cutout-bot: SLACK_SIGNING_SECRET is not set"
    )  # the token came from .env
