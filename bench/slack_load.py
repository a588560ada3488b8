"""Sending signed Slack requests to the bot as fast as a benchmark needs, and summarising latencies."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import statistics
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bench.processes import Fakes

_ids = itertools.count(1)


def signed(body: bytes, secret: str) -> dict[str, str]:
    stamp = str(int(time.time()))
    signature = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=" + signature}


def event_body(event: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "token": "bench",
            "team_id": "T0TEST",
            "api_app_id": "A0CUTOUT",
            "type": "event_callback",
            "event_id": f"EvBench{next(_ids):010d}",
            "event_time": int(time.time()),
            "event": event,
            "authorizations": [{"team_id": "T0TEST", "user_id": "U0BOT", "is_bot": True}],
        }
    ).encode()


def command_body(text: str, response_url: str, *, user: str = "U0BENCH", channel: str = "C0BENCH") -> bytes:
    n = next(_ids)
    return urlencode(
        {
            "token": "bench",
            "team_id": "T0TEST",
            "channel_id": channel,
            "user_id": user,
            "command": "/cutout",
            "text": text,
            "api_app_id": "A0CUTOUT",
            "response_url": response_url,
            "trigger_id": f"{n}.trigger",
        }
    ).encode()


async def post(
    session: aiohttp.ClientSession, url: str, body: bytes, content_type: str, secret: str
) -> tuple[int, float]:
    """Send one signed request; (status, seconds to the whole answer)."""
    headers = {"Content-Type": content_type, **signed(body, secret)}
    started = time.perf_counter()
    async with session.post(url, data=body, headers=headers) as reply:
        await reply.read()
        return reply.status, time.perf_counter() - started


def percentiles(seconds: list[float]) -> dict[str, float]:
    """p50/p95/p99 in milliseconds."""
    if len(seconds) < 2:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return {"p50": cuts[49] * 1000, "p95": cuts[94] * 1000, "p99": cuts[98] * 1000}


async def send_uploads(
    running: Fakes,
    url: str | Sequence[str],
    secret: str,
    count: int,
    text: str,
    *,
    image: bytes,
    name: str = "item.png",
) -> float:
    """Post `count` one-image messages (20 at a time) with `text`; return the time the first went."""
    events = await upload_events(running, count, text, image=image, name=name)
    return await deliver_events(url, secret, events)


async def upload_events(
    running: Fakes, count: int, text: str, *, image: bytes, name: str = "item.png"
) -> list[dict[str, Any]]:
    """`count` one-image messages with `text` in the fake Slack, each with its own copy of `image`: their
    `file_share` events, not yet sent."""
    mimetype = "image/jpeg" if name.endswith(".jpg") else "image/png"
    files = await running.host_files(image, count, name, mimetype)
    return [await running.message([file], text, user=f"U{n % 50:04d}") for n, file in enumerate(files)]


async def deliver_events(url: str | Sequence[str], secret: str, events: list[dict[str, Any]]) -> float:
    """Send the events to the bot, 20 at a time; return the time the first went. Several URLs (the
    instances of a fleet) take the events in turn, as a load balancer would deal them."""
    urls = [url] if isinstance(url, str) else list(url)
    started = time.monotonic()
    semaphore = asyncio.Semaphore(20)
    async with aiohttp.ClientSession() as session:

        async def deliver(event: dict[str, Any], to: str) -> None:
            async with semaphore:
                status, _ = await post(session, to, event_body(event), "application/json", secret)
                assert status == 200, status

        await asyncio.gather(*(deliver(e, urls[n % len(urls)]) for n, e in enumerate(events)))
    return started


async def wait_for_results(running: Fakes, count: int, timeout_s: float) -> float:
    """Wait until the fake Slack holds `count` result uploads; return the time it did."""
    deadline = time.monotonic() + timeout_s
    while (await running.stats())["results_posted"] < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"not all {count} results were posted in {timeout_s:.0f} s")
        await asyncio.sleep(0.05)
    return time.monotonic()
