"""The cut-out engines this bot can use: one shared client per vendor, chosen per spec."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from bot.config import Config
from bot.failures import VendorNotConfigured
from bot.grammar import Mode, Spec
from bot.vendors.aidge import AidgeClient
from bot.vendors.ailab import AILabClient
from bot.vendors.base import MAIN_ROLE, CutoutEngine, ResultPart
from bot.vendors.errors import ErrorKind, VendorError, VendorRejected, VendorTimeout, VendorUnavailable
from bot.vendors.http import VendorHTTP
from bot.vendors.picwish import PicWishClient
from bot.vendors.ratelimit import RateLimiter
from bot.vendors.retry import RetryPolicy

__all__ = [
    "MAIN_ROLE",
    "CutoutEngine",
    "ErrorKind",
    "ResultPart",
    "VendorError",
    "VendorRejected",
    "VendorTimeout",
    "VendorUnavailable",
    "Vendors",
]

# mode → (vendor, the variables that configure it)
VENDOR_OF_MODE: dict[Mode, tuple[str, str]] = {
    Mode.APPAREL: ("AILabTools", "AILAB_API_KEY"),
    Mode.PORTRAIT: ("AILabTools", "AILAB_API_KEY"),
    Mode.PRODUCT: ("Aidge", "AIDGE_APP_KEY and AIDGE_APP_SECRET"),
    Mode.SEGMENT: ("PicWish", "PICWISH_API_KEY"),
}


class Vendors:
    def __init__(self, engines: Mapping[Mode, CutoutEngine]) -> None:
        self._engines = dict(engines)

    @classmethod
    def from_config(cls, config: Config) -> Vendors:
        """One client per configured vendor, each with its own httpx client, retry policy and limits."""
        retry = RetryPolicy(attempts=config.retry_attempts, base_delay_s=config.retry_base_s)
        timeout = httpx.Timeout(config.vendor_timeout_s, connect=min(10.0, config.vendor_timeout_s))

        def http(
            base_url: str, vendor: str, key_var: str, *, concurrency: int, qps: float | None
        ) -> VendorHTTP:
            return VendorHTTP(
                httpx.AsyncClient(base_url=base_url, timeout=timeout),
                vendor=vendor,
                key_var=key_var,
                retry=retry,
                allow_private_urls=config.allow_private_urls,
                limiter=RateLimiter(qps) if qps else None,
                concurrency=concurrency,
                max_result_bytes=config.max_file_bytes,
            )

        engines: dict[Mode, CutoutEngine] = {}
        if config.ailab_api_key:
            ailab = AILabClient(
                http(
                    config.ailab_base_url,
                    "AILabTools",
                    "AILAB_API_KEY",
                    concurrency=config.ailab_concurrency,
                    qps=config.ailab_qps,
                ),
                config.ailab_api_key,
            )
            engines[Mode.APPAREL] = engines[Mode.PORTRAIT] = ailab
        if config.aidge_app_key and config.aidge_app_secret:
            engines[Mode.PRODUCT] = AidgeClient(
                http(
                    config.aidge_base_url,
                    "Aidge",
                    "AIDGE_APP_KEY and AIDGE_APP_SECRET",
                    concurrency=config.aidge_concurrency,
                    qps=config.aidge_qps,
                ),
                config.aidge_app_key,
                config.aidge_app_secret,
                trial=config.aidge_trial,
            )
        if config.picwish_api_key:
            engines[Mode.SEGMENT] = PicWishClient(
                http(
                    config.picwish_base_url,
                    "PicWish",
                    "PICWISH_API_KEY",
                    concurrency=config.picwish_concurrency,
                    qps=config.picwish_qps,
                ),
                config.picwish_api_key,
                poll_interval_s=config.picwish_poll_interval_s,
                poll_deadline_s=config.picwish_poll_deadline_s,
            )
        return cls(engines)

    def for_spec(self, spec: Spec) -> CutoutEngine:
        """The engine that runs `spec`, or VendorNotConfigured saying which variable to set."""
        if spec.local:
            raise VendorNotConfigured(
                "This version of the bot has no local engine yet, so `local` cannot run. "
                "Leave out `local` to use the vendor."
            )
        engine = self._engines.get(spec.mode)
        if engine is None:
            vendor, variables = VENDOR_OF_MODE[spec.mode]
            raise VendorNotConfigured(
                f"`{spec.mode}` runs on {vendor}, and no {vendor} key is configured: "
                f"whoever runs the bot should set {variables} (in the environment or .env)."
            )
        return engine

    def configured(self) -> dict[Mode, str | None]:
        """Each mode and the engine that would run it (None: not configured)."""
        return {mode: (self._engines[mode].name if mode in self._engines else None) for mode in Mode}

    async def aclose(self) -> None:
        for engine in {id(e): e for e in self._engines.values()}.values():
            await engine.aclose()
