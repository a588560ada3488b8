"""Which engines run a spec, in order (its route): the configured vendor clients and the local engine —
and the image threads they all share (`bot.imaging.threads`). The clients are built by the composition
root (`bot.assembly.build_engines`) from the configuration.

A mode's route is CUTOUT_ROUTES's list for it, else its vendor (when configured) then the local engine.
The runner tries them in order, going on to the next only when a vendor said it cannot serve the account
(`bot.domain.routing`). PicWish can serve `apparel` too: its clothing masks, together, are the garments
(`engine_spec` says what each engine is asked, and the pipeline composes the user's output)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.domain.failures import VendorNotConfigured
from bot.domain.grammar import Mode, SegmentClasses, Spec
from bot.domain.text import quote
from bot.domain.vendors import ROUTE_NAMES
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
# What else a vendor can serve, composing the user's output from its answer.
EXTRA_MODES: dict[str, tuple[Mode, ...]] = {picwish.NAME: (Mode.APPAREL,)}


class RouteError(ValueError):
    """CUTOUT_ROUTES asks an engine for a mode it cannot do."""


def engine_spec(engine_name: str, spec: Spec) -> Spec:
    """What `engine_name` is asked for `spec`: the spec itself, or — PicWish for apparel — a clothing
    segmentation (with bags, shoes and hats when they were asked for) whose masks make the garments."""
    if engine_name == picwish.NAME and spec.mode is Mode.APPAREL:
        accessories = {"bag", "shoes", "hat"} & set(spec.classes)
        return Spec(
            Mode.SEGMENT, segment_classes=SegmentClasses.FASHION if accessories else SegmentClasses.CLOTHING
        )
    return spec


class Engines:
    """The vendor clients configured, and the local engine for everything else (or when asked for)."""

    def __init__(
        self,
        engines: Mapping[Mode, CutoutEngine],
        *,
        local: LocalEngine | None = None,
        routes: Mapping[Mode, tuple[str, ...]] | None = None,
    ) -> None:
        """`engines`: the configured vendor clients by the mode they serve; `routes`: CUTOUT_ROUTES (engine
        words: ailab, aidge, picwish, local), checked here: RouteError for an engine that cannot do a mode."""
        self._engines = dict(engines)
        self._local = local if local is not None else LocalEngine()
        self._checker = ListingChecker(self._local.image_work)
        self._by_name: dict[str, CutoutEngine] = {e.name: e for e in self._engines.values()}
        self._by_name[self._local.name] = self._local
        self._by_name[self._checker.name] = self._checker
        self._routes = {mode: self._default_route(mode) for mode in Mode}
        for mode, words in (routes or {}).items():
            names = tuple(ROUTE_NAMES[word] for word in words)
            for name in names:
                if not self._can(name, mode):
                    raise RouteError(f"{name} cannot do {mode.value}")
            self._routes[mode] = names

    def _default_route(self, mode: Mode) -> tuple[str, ...]:
        vendor = self._engines.get(mode)
        return ((vendor.name,) if vendor else ()) + (self._local.name,)

    def _can(self, name: str, mode: Mode) -> bool:
        """Whether engine `name` can do `mode` at all (segment on the local engine needs a model: `route`
        leaves it out when there is none)."""
        if name == self._local.name:
            return True
        return any(v.name == name and mode in v.modes for v in VENDORS) or mode in EXTRA_MODES.get(name, ())

    def route(self, spec: Spec) -> list[CutoutEngine]:
        """The engines that may run `spec`, in the order to try them: the mode's route, less what is not
        configured (a vendor with no key, the local engine without the model a mode needs); the local
        engine alone for `local`; the compliance check for a check. VendorNotConfigured says what to set
        when nothing can."""
        if spec.check is not None:
            return [self._checker]
        if spec.local:
            return [self._local] if self._local.supports(spec) else self._none(spec)
        return self._available(spec) or self._none(spec)

    def route_names(self, mode: Mode) -> tuple[str, ...]:
        """The mode's route as configured (for the help and the Home tab), engines not configured left out."""
        return tuple(engine.name for engine in self._available(Spec(mode)))

    def _available(self, spec: Spec) -> list[CutoutEngine]:
        """The engines of `spec`'s route that are here: vendors with a key, the local engine when it can."""
        return [
            engine
            for name in self._routes[spec.mode]
            if (engine := self._by_name.get(name)) is not None
            and (engine is not self._local or self._local.supports(spec))
        ]

    def by_name(self, name: str | None) -> CutoutEngine | None:
        """The engine a task was sent to (its `vendor`), to go on with it after a restart."""
        return self._by_name.get(name) if name else None

    def for_spec(self, spec: Spec) -> CutoutEngine:
        """The first engine of `spec`'s route (see `route`)."""
        return self.route(spec)[0]

    def _none(self, spec: Spec) -> list[CutoutEngine]:
        """Nothing can run `spec` here: say what whoever runs the bot should set."""
        model_hint = "set CUTOUT_LOCAL_MODEL to a clothing-segmentation ONNX model (u2net_cloth_seg)"
        if spec.local:
            raise VendorNotConfigured(
                f"{quote(spec.mode)} on the local engine needs a model: whoever runs the bot should {model_hint}."
            )
        vendors = [name for name in self._routes[spec.mode] if name != self._local.name]
        keys = {v.name: v.key_vars for v in VENDORS}
        if self._local.name not in self._routes[spec.mode] and vendors:
            names = " or ".join(vendors)
            raise VendorNotConfigured(
                f"{quote(spec.mode)} runs only on {names} here (CUTOUT_ROUTES), and none of them has a key: "
                f"whoever runs the bot should set " + " or ".join(keys[n] for n in vendors) + "."
            )
        vendor = VENDOR_OF_MODE[spec.mode]
        raise VendorNotConfigured(
            f"{quote(spec.mode)} runs on {vendor.name}, and no {vendor.name} key is configured: whoever runs the "
            f"bot should set {vendor.key_vars} (in the environment or .env), or {model_hint}."
        )

    def configured(self) -> dict[Mode, str | None]:
        """Each mode and its route in words ("AILabTools, then the local engine"; None: nothing can)."""
        return {mode: ", then ".join(self.route_names(mode)) or None for mode in Mode}

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
