"""The cut-out engines this bot can use: one shared client per vendor, chosen per spec."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from bot.config import Config
from bot.failures import VendorNotConfigured
from bot.grammar import Mode, Spec
from bot.vendors.ailab import AILabClient
from bot.vendors.base import MAIN_ROLE, CutoutEngine, ResultPart
from bot.vendors.errors import ErrorKind, VendorError, VendorRejected, VendorTimeout, VendorUnavailable

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

VENDOR_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


class Vendors:
    def __init__(self, engines: Mapping[Mode, CutoutEngine]) -> None:
        self._engines = dict(engines)

    @classmethod
    def from_config(cls, config: Config) -> Vendors:
        engines: dict[Mode, CutoutEngine] = {}
        if config.ailab_api_key:
            ailab = AILabClient(
                httpx.AsyncClient(base_url=config.ailab_base_url, timeout=VENDOR_TIMEOUT),
                config.ailab_api_key,
            )
            engines[Mode.APPAREL] = engines[Mode.PORTRAIT] = ailab
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
