"""The composition root's builder of engines: the configured vendor clients (each with its own HTTP client,
retry policy and limits) and the local engine, with the image threads they share. The bot's server and
the command-line tool both take their engines from here; nothing else builds them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx

from bot.config import Config, ConfigError
from bot.domain.grammar import Mode
from bot.engines.base import CutoutEngine
from bot.engines.local.engine import LocalEngine
from bot.engines.local.model import ModelError, SegmentationModel
from bot.engines.registry import VENDORS, Engines
from bot.engines.vendors import aidge, ailab, picwish
from bot.engines.vendors.aidge import AidgeClient
from bot.engines.vendors.ailab import AILabClient
from bot.engines.vendors.http import VendorHTTP
from bot.engines.vendors.picwish import PicWishClient
from bot.engines.vendors.ratelimit import CallLimits, LocalLimits
from bot.engines.vendors.retry import RetryPolicy
from bot.imaging.threads import ImageWork
from bot.net.client import http_client


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
    return Engines(engines, local=LocalEngine(model, image_work=ImageWork(config.image_threads)))
