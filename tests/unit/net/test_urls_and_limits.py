"""Which URLs the bot fetches, and the shared request-rate limit."""

from __future__ import annotations

import pytest

from bot.domain.failures import SourceError
from bot.engines.vendors.ratelimit import RateLimiter
from bot.net.urls import check_url


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://example.com/a.png", "URL_NOT_HTTPS"),
        ("ftp://example.com/a.png", "URL_NOT_HTTPS"),
        ("https://127.0.0.1/a.png", "URL_NOT_PUBLIC"),
        ("https://localhost/a.png", "URL_NOT_PUBLIC"),
        ("https://10.1.2.3/a.png", "URL_NOT_PUBLIC"),
        ("https://192.168.0.10/a.png", "URL_NOT_PUBLIC"),
        ("https://172.16.5.4/a.png", "URL_NOT_PUBLIC"),
        ("https://169.254.169.254/latest/meta-data", "URL_NOT_PUBLIC"),
        ("https://[::1]/a.png", "URL_NOT_PUBLIC"),
        ("https://[fe80::1]/a.png", "URL_NOT_PUBLIC"),
        ("https://0.0.0.0/a.png", "URL_NOT_PUBLIC"),
        ("https://user:pw@example.com/a.png", "URL_INVALID"),
        ("https:///a.png", "URL_INVALID"),
    ],
)
async def test_urls_the_bot_refuses(url: str, code: str) -> None:
    with pytest.raises(SourceError) as caught:
        await check_url(url, allow_private=False)
    assert caught.value.code == code


async def test_public_address_is_allowed() -> None:
    await check_url("https://93.184.216.34/a.png", allow_private=False)  # an address literal: no DNS needed


async def test_the_test_switch_allows_local_http() -> None:
    await check_url("http://127.0.0.1:8080/a.png", allow_private=True)


async def test_rate_limiter_spaces_requests_evenly() -> None:
    now = [100.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(round(seconds, 3))
        now[0] += seconds

    limiter = RateLimiter(2.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        await limiter.acquire()
    assert slept == [0.525, 0.525, 0.525]
    now[0] += 10
    await limiter.acquire()
    assert slept == [0.525, 0.525, 0.525]  # after a quiet spell there is no wait
