"""Which engine runs a spec: the configured vendor clients, and the local engine for everything else —
and the image threads they all share (`bot.imaging.threads`)."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from bot.config import Config, ConfigError
from bot.domain.failures import VendorNotConfigured
from bot.domain.grammar import Mode, Spec
from bot.engines.base import CutoutEngine
from bot.engines.local.engine import LocalEngine
from bot.engines.local.model import ModelError, SegmentationModel
from bot.engines.vendors.aidge import AidgeClient
from bot.engines.vendors.ailab import AILabClient
from bot.engines.vendors.http import VendorHTTP
from bot.engines.vendors.picwish import PicWishClient
from bot.engines.vendors.ratelimit import RateLimiter
from bot.engines.vendors.retry import RetryPolicy
from bot.imaging.threads import ImageWork
from bot.net.client import http_client

# mode → (vendor, the variables that configure it)
VENDOR_OF_MODE: dict[Mode, tuple[str, str]] = {
    Mode.APPAREL: ("AILabTools", "AILAB_API_KEY"),
    Mode.PORTRAIT: ("AILabTools", "AILAB_API_KEY"),
    Mode.PRODUCT: ("Aidge", "AIDGE_APP_KEY and AIDGE_APP_SECRET"),
    Mode.SEGMENT: ("PicWish", "PICWISH_API_KEY"),
}


class Engines:
    """The vendor clients configured, and the local engine for everything else (or when asked for)."""

    def __init__(self, engines: Mapping[Mode, CutoutEngine], *, local: LocalEngine | None = None) -> None:
        self._engines = dict(engines)
        self._local = local if local is not None else LocalEngine()

    @classmethod
    def from_config(cls, config: Config) -> Engines:
        """One client per configured vendor, each with its own httpx client, retry policy and limits."""
        retry = RetryPolicy(attempts=config.retry_attempts, base_delay_s=config.retry_base_s)
        timeout = httpx.Timeout(config.vendor_timeout_s, connect=min(10.0, config.vendor_timeout_s))

        def http(
            base_url: str, vendor: str, key_var: str, *, concurrency: int, qps: float | None
        ) -> VendorHTTP:
            return VendorHTTP(
                http_client(base_url=base_url, timeout=timeout),
                vendor=vendor,
                key_var=key_var,
                retry=retry,
                allow_private_urls=config.allow_private_urls,
                limiter=RateLimiter(qps) if qps else None,
                concurrency=concurrency,
                max_result_bytes=config.max_file_bytes,
                download_deadline_s=config.download_timeout_s,
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
        model = None
        if config.local_model is not None:
            try:
                model = SegmentationModel(config.local_model)
            except ModelError as error:
                raise ConfigError("CUTOUT_LOCAL_MODEL", f"could not be used: {error}") from None
        return cls(engines, local=LocalEngine(model, image_work=ImageWork(config.image_threads)))

    def for_spec(self, spec: Spec) -> CutoutEngine:
        """The engine that runs `spec`: its vendor, or the local engine when asked for or when the vendor
        has no key. VendorNotConfigured says what to set when neither can."""
        vendor = self._engines.get(spec.mode)
        if vendor is not None and not spec.local:
            return vendor
        if self._local.supports(spec):
            return self._local
        name, variables = VENDOR_OF_MODE[spec.mode]
        model_hint = "set CUTOUT_LOCAL_MODEL to a clothing-segmentation ONNX model (u2net_cloth_seg)"
        if spec.local or vendor is not None:
            raise VendorNotConfigured(
                f"`{spec.mode}` on the local engine needs a model: whoever runs the bot should {model_hint}."
            )
        raise VendorNotConfigured(
            f"`{spec.mode}` runs on {name}, and no {name} key is configured: whoever runs the bot should set "
            f"{variables} (in the environment or .env), or {model_hint}."
        )

    def configured(self) -> dict[Mode, str | None]:
        """Each mode and the engine that would run it without `local` (None: nothing can)."""
        chosen: dict[Mode, str | None] = {}
        for mode in Mode:
            vendor = self._engines.get(mode)
            chosen[mode] = (
                vendor.name if vendor else (self._local.name if self._local.supports(Spec(mode)) else None)
            )
        return chosen

    @property
    def local(self) -> LocalEngine:
        return self._local

    @property
    def image_work(self) -> ImageWork:
        """The image threads every task shares: the local engine's, which cuts on them too."""
        return self._local.image_work

    async def aclose(self) -> None:
        for engine in {id(e): e for e in self._engines.values()}.values():
            await engine.aclose()
        self.image_work.close()
