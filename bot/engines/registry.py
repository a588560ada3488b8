"""Which engine runs a spec: the configured vendor clients, and the local engine for everything else —
and the image threads they all share (`bot.imaging.threads`). The clients are built by the composition
root (`bot.assembly.build_engines`) from the configuration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.domain.failures import VendorNotConfigured
from bot.domain.grammar import Mode, Spec
from bot.domain.text import quote
from bot.engines.base import CutoutEngine
from bot.engines.check import ListingChecker
from bot.engines.local.engine import LocalEngine
from bot.engines.vendors import aidge, ailab, picwish
from bot.imaging.threads import ImageWork


@dataclass(frozen=True, slots=True)
class Vendor:
    """One vendor as the registry names it: the variables that configure it and the modes it runs."""

    name: str
    key_vars: str  # named in messages that say what to set
    modes: tuple[Mode, ...]


VENDORS: tuple[Vendor, ...] = (
    Vendor(ailab.NAME, ailab.KEY_VAR, (Mode.APPAREL, Mode.PORTRAIT)),
    Vendor(aidge.NAME, aidge.KEY_VAR, (Mode.PRODUCT,)),
    Vendor(picwish.NAME, picwish.KEY_VAR, (Mode.SEGMENT,)),
)
VENDOR_OF_MODE: dict[Mode, Vendor] = {mode: vendor for vendor in VENDORS for mode in vendor.modes}


class Engines:
    """The vendor clients configured, and the local engine for everything else (or when asked for)."""

    def __init__(self, engines: Mapping[Mode, CutoutEngine], *, local: LocalEngine | None = None) -> None:
        self._engines = dict(engines)
        self._local = local if local is not None else LocalEngine()
        self._checker = ListingChecker(self._local.image_work)

    def for_spec(self, spec: Spec) -> CutoutEngine:
        """The engine that runs `spec`: its vendor, or the local engine when asked for or when the vendor
        has no key; the compliance check for a check. VendorNotConfigured says what to set when neither can."""
        if spec.check is not None:
            return self._checker
        vendor = self._engines.get(spec.mode)
        if vendor is not None and not spec.local:
            return vendor
        if self._local.supports(spec):
            return self._local
        name, variables = VENDOR_OF_MODE[spec.mode].name, VENDOR_OF_MODE[spec.mode].key_vars
        model_hint = "set CUTOUT_LOCAL_MODEL to a clothing-segmentation ONNX model (u2net_cloth_seg)"
        if spec.local or vendor is not None:
            raise VendorNotConfigured(
                f"{quote(spec.mode)} on the local engine needs a model: whoever runs the bot should {model_hint}."
            )
        raise VendorNotConfigured(
            f"{quote(spec.mode)} runs on {name}, and no {name} key is configured: whoever runs the bot should set "
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
