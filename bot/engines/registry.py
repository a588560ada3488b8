"""Which engine runs a spec: the configured vendor clients, and the local engine for everything else —
and the image threads they all share (`bot.imaging.threads`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from bot.config import Config, ConfigError
from bot.domain.failures import VendorNotConfigured
from bot.domain.grammar import Mode, Spec
from bot.engines.base import CutoutEngine
from bot.engines.local.engine import LocalEngine
from bot.engines.local.model import ModelError, SegmentationModel
from bot.engines.vendors import aidge, ailab, picwish
from bot.engines.vendors.aidge import AidgeClient
from bot.engines.vendors.ailab import AILabClient
from bot.engines.vendors.http import VendorHTTP
from bot.engines.vendors.picwish import PicWishClient
from bot.engines.vendors.ratelimit import RateLimiter
from bot.engines.vendors.retry import RetryPolicy
from bot.imaging.threads import ImageWork
from bot.net.client import http_client


@dataclass(frozen=True, slots=True)
class Vendor:
    """One vendor: its name, the variables that configure it, the modes it runs, and how it is built."""

    name: str
    key_vars: str  # named in messages that say what to set
    modes: tuple[Mode, ...]
    configured: Callable[[Config], bool]
    limits: Callable[[Config], tuple[str, int, float | None]]  # base URL, calls at once, calls a second
    make: Callable[[VendorHTTP, Config], CutoutEngine]


VENDORS: tuple[Vendor, ...] = (
    Vendor(
        ailab.NAME,
        ailab.KEY_VAR,
        (Mode.APPAREL, Mode.PORTRAIT),
        configured=lambda c: bool(c.ailab_api_key),
        limits=lambda c: (c.ailab_base_url, c.ailab_concurrency, c.ailab_qps),
        make=lambda http, c: AILabClient(http, c.ailab_api_key or ""),
    ),
    Vendor(
        aidge.NAME,
        aidge.KEY_VAR,
        (Mode.PRODUCT,),
        configured=lambda c: bool(c.aidge_app_key and c.aidge_app_secret),
        limits=lambda c: (c.aidge_base_url, c.aidge_concurrency, c.aidge_qps),
        make=lambda http, c: AidgeClient(
            http, c.aidge_app_key or "", c.aidge_app_secret or "", trial=c.aidge_trial
        ),
    ),
    Vendor(
        picwish.NAME,
        picwish.KEY_VAR,
        (Mode.SEGMENT,),
        configured=lambda c: bool(c.picwish_api_key),
        limits=lambda c: (c.picwish_base_url, c.picwish_concurrency, c.picwish_qps),
        make=lambda http, c: PicWishClient(
            http,
            c.picwish_api_key or "",
            poll_interval_s=c.picwish_poll_interval_s,
            poll_deadline_s=c.picwish_poll_deadline_s,
        ),
    ),
)
VENDOR_OF_MODE: dict[Mode, Vendor] = {mode: vendor for vendor in VENDORS for mode in vendor.modes}


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
        for vendor in VENDORS:
            if not vendor.configured(config):
                continue
            base_url, concurrency, qps = vendor.limits(config)
            client = vendor.make(
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
        return cls(engines, local=LocalEngine(model, image_work=ImageWork(config.image_threads)))

    def for_spec(self, spec: Spec) -> CutoutEngine:
        """The engine that runs `spec`: its vendor, or the local engine when asked for or when the vendor
        has no key. VendorNotConfigured says what to set when neither can."""
        vendor = self._engines.get(spec.mode)
        if vendor is not None and not spec.local:
            return vendor
        if self._local.supports(spec):
            return self._local
        name, variables = VENDOR_OF_MODE[spec.mode].name, VENDOR_OF_MODE[spec.mode].key_vars
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
