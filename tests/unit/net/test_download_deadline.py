"""Every download has a deadline, first byte to last: a server that trickles bytes is cut off at it, and the
user is told the download took too long — for image URLs and vendor results alike."""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bot.assembly import build_engines
from bot.config import Config
from bot.domain.failures import SourceError, VendorRejected
from bot.domain.grammar import Mode, Spec
from bot.domain.tasks import URL_FILE_ID, SourceFile
from bot.engines.vendors.http import VendorHTTP
from bot.engines.vendors.retry import RetryPolicy
from bot.net.client import http_client
from bot.net.downloads import DEFAULT_DEADLINE_S, DownloadError, download_to_file
from bot.net.urls import fetch_url
from bot.tasks.sources import ImageSources
from fakes.net import wait_for
from fakes.web import FakeWeb

DEADLINE_S = 0.5
EVERY_S = 0.05
BODY = b"\x89PNG" + b"x" * 196  # 200 bytes at one per 50 ms: 10 s to send whole


@pytest.fixture
async def fake_web() -> AsyncIterator[FakeWeb]:
    server = await FakeWeb().start()
    yield server
    await server.stop()


async def test_download_to_file_takes_a_deadline_keyword_defaulting_to_two_minutes() -> None:
    parameter = inspect.signature(download_to_file).parameters["deadline_s"]
    assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
    assert parameter.default == DEFAULT_DEADLINE_S == 120.0


async def test_a_trickling_download_stops_at_its_deadline(fake_web: FakeWeb, tmp_path: Path) -> None:
    url = fake_web.trickle("slow.png", BODY, "image/png", every_s=EVERY_S)
    dest = tmp_path / "slow.png"
    started = time.monotonic()
    async with http_client(timeout=5) as client:  # each read arrives well within the read timeout
        with pytest.raises(DownloadError) as caught:
            await download_to_file(client, url, dest, deadline_s=DEADLINE_S)
    elapsed = time.monotonic() - started
    assert caught.value.reason == DownloadError.DEADLINE
    assert caught.value.deadline_s == DEADLINE_S
    assert DEADLINE_S <= elapsed < 2.0  # the whole body would take 10 s
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []  # no partial file left behind


async def test_a_download_within_its_deadline_is_written_whole(fake_web: FakeWeb, tmp_path: Path) -> None:
    url = fake_web.add("quick.png", BODY * 1000, "image/png")
    async with http_client(timeout=5) as client:
        downloaded = await download_to_file(client, url, tmp_path / "quick.png", deadline_s=DEADLINE_S)
    assert downloaded.size == len(BODY) * 1000
    assert (tmp_path / "quick.png").read_bytes() == BODY * 1000


async def test_a_url_fetch_has_one_deadline_across_its_redirects(fake_web: FakeWeb, tmp_path: Path) -> None:
    fake_web.trickle("slow.png", BODY, "image/png", every_s=EVERY_S)
    url = fake_web.redirect("start", "/slow.png")
    started = time.monotonic()
    async with http_client(timeout=5) as client:
        with pytest.raises(DownloadError) as caught:
            await fetch_url(
                client, url, tmp_path / "a.png", allow_private=True, max_bytes=10**6, deadline_s=DEADLINE_S
            )
    assert caught.value.reason == DownloadError.DEADLINE
    assert time.monotonic() - started < 2.0
    assert fake_web.requests == ["start", "slow.png"]


async def test_image_sources_tell_the_user_the_url_took_too_long(fake_web: FakeWeb, tmp_path: Path) -> None:
    url = fake_web.trickle("slow.png", BODY, "image/png", every_s=EVERY_S)
    sources = ImageSources(
        None, http_client(timeout=5), allow_private_urls=True, download_deadline_s=DEADLINE_S
    )
    task: Any = SimpleNamespace(file=SourceFile(URL_FILE_ID, "slow.png", "", url), spec=Spec(Mode.PRODUCT))
    engine: Any = SimpleNamespace(name="an engine", accepts_urls=False)
    try:
        with pytest.raises(SourceError) as caught:
            await sources.job_for(task, engine, tmp_path)
    finally:
        await sources.aclose()
    assert caught.value.code == "URL_TOO_SLOW"
    assert caught.value.user_text().startswith("The image at that URL took longer than 0.5 s to download;")
    assert not (tmp_path / "source").exists()
    await _wait_for_hang_up(fake_web)


async def test_a_slow_vendor_result_is_refused_once_not_retried(fake_web: FakeWeb, tmp_path: Path) -> None:
    url = fake_web.trickle("result.png", BODY, "image/png", every_s=EVERY_S)
    vendor = VendorHTTP(
        http_client(timeout=5),
        vendor="AILabTools",
        key_var="AILAB_API_KEY",
        retry=RetryPolicy(attempts=3, base_delay_s=0.01),
        allow_private_urls=True,
        download_deadline_s=DEADLINE_S,
    )
    started = time.monotonic()
    try:
        with pytest.raises(VendorRejected) as caught:
            await vendor.fetch(url, tmp_path / "result.png")
    finally:
        await vendor.aclose()
    assert time.monotonic() - started < 2.0
    assert caught.value.code == "RESULT_TOO_SLOW"
    assert "the result download took longer than 0.5 s" in caught.value.user_text()
    assert fake_web.requests == ["result.png"]  # a file host this slow is not asked again


async def test_the_vendor_clients_get_the_configured_deadline(fake_web: FakeWeb, tmp_path: Path) -> None:
    url = fake_web.trickle("result.png", BODY, "image/png", every_s=EVERY_S)
    config = Config(
        ailab_api_key="test-key",
        ailab_base_url=fake_web.url,
        allow_private_urls=True,
        download_timeout_s=0.3,
        retry_attempts=1,
    )
    engines = build_engines(config)
    try:
        with pytest.raises(VendorRejected) as caught:
            await engines.for_spec(Spec(Mode.APPAREL)).fetch(url, tmp_path / "result.png")
    finally:
        await engines.aclose()
    assert caught.value.code == "RESULT_TOO_SLOW"
    assert "took longer than 0.3 s" in caught.value.user_text()


async def _wait_for_hang_up(fake_web: FakeWeb) -> None:
    """The server saw the client give up (so the worker was not held)."""
    await wait_for(lambda: fake_web.trickles_cut, timeout=2.0, what="the client to hang up")
