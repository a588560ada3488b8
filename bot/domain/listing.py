"""Listing photos: the marketplaces' rules for a main image (`PRESETS`), how a cut-out is laid out for one
(`Layout`: a preset and/or the options fill, margin, bg, size, shadow), and the compliance report that says,
rule by rule, whether an image passes (`ComplianceReport`).

Each preset's numbers come from the marketplace's own page, named in `source`; README's "Marketplace-ready
results" prints the same table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["PRESETS", "Check", "ComplianceReport", "Layout", "Preset", "PresetRules", "Rule"]

WHITE = (255, 255, 255)


class Preset(StrEnum):
    AMAZON = "amazon"
    SHOPIFY = "shopify"
    EBAY = "ebay"
    ETSY = "etsy"
    WALMART = "walmart"
    GOOGLE = "google"


@dataclass(frozen=True, slots=True)
class PresetRules:
    """What one marketplace asks of a main image, and what the bot makes for it."""

    title: str  # "Amazon"
    canvas: tuple[int, int]  # the size the bot makes (width, height)
    fill: float  # the subject's longer side, as a share of the canvas's matching side (the bot's default)
    fill_range: tuple[float, float]  # what passes
    min_side: int  # the shortest canvas side that passes (pixels)
    max_bytes: int
    pure_white: bool  # the background must be exactly #FFFFFF (else "white": each channel ≥ WHITE_ENOUGH)
    source: str  # the marketplace's page for these numbers


WHITE_ENOUGH = 250  # a "white" background (not "pure white") has each channel at least this

PRESETS: dict[Preset, PresetRules] = {
    # Amazon's "Technical image file requirements" (G9FUUH87RBNXGKB7): 1,000 px or larger on the longest side
    # (the minimum that enables zoom), at most 10,000; JPEG, TIFF, PNG or GIF; RGB preferred to CMYK. Its main
    # image standards (G1881): pure white RGB 255, 255, 255, the product filling 85% of the frame. The 10 MB
    # cap is the issue's; neither page as stored names one.
    Preset.AMAZON: PresetRules(
        "Amazon", (2000, 2000), 0.90, (0.85, 0.95), 1000, 10_000_000, True,
        "https://sellercentral.amazon.com/help/hub/reference/external/G1881",
    ),
    # Shopify's help page was not found in the stored pages; 2048 × 2048 (square), under 20 MB and 800 px for
    # zoom are what every copy of it quotes.
    Preset.SHOPIFY: PresetRules(
        "Shopify", (2048, 2048), 0.85, (0.80, 0.90), 800, 20_000_000, False,
        "https://help.shopify.com/en/manual/online-store/images/theme-images",
    ),
    # eBay's picture policy: "at least 500 pixels on the longest side". 1600 × 1600 (recommended) and the
    # 12 MB cap are from copies of its "Adding pictures" page (id 4148), not found as eBay's own text.
    Preset.EBAY: PresetRules(
        "eBay", (1600, 1600), 0.85, (0.80, 0.90), 500, 12_000_000, False,
        "https://www.ebay.com/help/policies/listing-policies/picture-policy?id=4370",
    ),
    # Etsy's help page was not found in the stored pages: 2000 × 1500 (4:3), 1000 px and 10 MB are the
    # issue's numbers, unverified.
    Preset.ETSY: PresetRules(
        "Etsy", (2000, 1500), 0.85, (0.80, 0.90), 1000, 10_000_000, False,
        "https://help.etsy.com/hc/en-us/articles/115015663347",
    ),
    # Walmart's image guidelines: 2200 × 2200 px, 1500 × 1500 the minimum for zoom, 5 MB or less, RGB,
    # 8 bits, seamless white (255/255/255 RGB); JPEG, PNG or BMP.
    Preset.WALMART: PresetRules(
        "Walmart", (2200, 2200), 0.875, (0.85, 0.90), 1500, 5_000_000, True,
        "https://marketplacelearn.walmart.com/guides/Item%20setup/Item%20content,%20imagery,%20and%20media/Product-detail-page:-Image-guidelines-&-requirements",
    ),
    # Google's image_link page: at least 100 × 100 px (non-apparel) or 250 × 250 (apparel), at most 64
    # megapixels and 16 MB; 1500 × 1500 or more recommended; the product covering 75–90% of the image; a
    # white or transparent background. (Its image section read through copies that quote it; 800 px was an
    # older "we recommend", not what passes.)
    Preset.GOOGLE: PresetRules(
        "Google", (1500, 1500), 0.825, (0.75, 0.90), 250, 16_000_000, False,
        "https://support.google.com/merchants/answer/6324350",
    ),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Layout:
    """How a cut-out is laid out for a listing. Unset fields come from the preset, else the defaults:
    without a preset and without `size`, the canvas is the subject's box grown by the margin."""

    preset: Preset | None = None
    fill: float | None = None  # the subject's longer side as a share of the canvas's matching side
    margin: float | None = None  # the share of the canvas kept free at each edge (fill = 1 − 2 × margin)
    background: tuple[int, int, int] | None = None  # None: white (a preset's, or #FFFFFF)
    transparent: bool = False  # bg=transparent: a PNG with the subject on transparency
    size: tuple[int, int] | None = None  # the canvas, else the preset's
    shadow: bool = False  # a soft contact shadow under the subject

    @property
    def rules(self) -> PresetRules | None:
        return PRESETS[self.preset] if self.preset is not None else None

    def share(self) -> float:
        """The share of the canvas the subject's longer side fills."""
        if self.fill is not None:
            return self.fill
        if self.margin is not None:
            return 1.0 - 2.0 * self.margin
        return self.rules.fill if self.rules else DEFAULT_FILL

    def colour(self) -> tuple[int, int, int]:
        return self.background or WHITE

    def words(self) -> list[str]:
        """The spec words that give this layout (the grammar parses them back)."""
        words = [self.preset.value] if self.preset else []
        if self.fill is not None:
            words.append(f"fill={_percent(self.fill)}")
        if self.margin is not None:
            words.append(f"margin={_percent(self.margin)}")
        if self.transparent:
            words.append("bg=transparent")
        elif self.background is not None:
            words.append("bg=#{:02X}{:02X}{:02X}".format(*self.background))
        if self.size is not None:
            width, height = self.size
            words.append(f"size={width}" if width == height else f"size={width}x{height}")
        if self.shadow:
            words.append("shadow")
        return words


DEFAULT_FILL = 0.90  # without a preset or an option


def _percent(share: float) -> str:
    value = round(share * 100, 1)
    return f"{value:g}%"


class Rule(StrEnum):
    """The rules a compliance report checks, in the order it lists them."""

    BACKGROUND = "background"
    FILL = "fill"
    CENTRING = "centring"
    SIZE = "size"
    FORMAT = "format"
    BYTES = "bytes"
    TRANSPARENCY = "transparency"
    RESOLUTION = "resolution"  # the subject had to be scaled up past the limit: the source is too small


@dataclass(frozen=True, slots=True)
class Check:
    rule: Rule
    passed: bool
    measured: str  # plain text: "99.2% of the edge is pure white"
    expected: str  # plain text: "pure white #FFFFFF"


@dataclass(frozen=True, slots=True)
class ComplianceReport:
    """Whether one image passes a marketplace's rules for a main image, rule by rule."""

    preset: Preset
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if not check.passed)

    def to_dict(self) -> dict[str, object]:
        return {
            "preset": self.preset.value,
            "checks": [[c.rule.value, c.passed, c.measured, c.expected] for c in self.checks],
        }

    @classmethod
    def from_dict(cls, data: object) -> ComplianceReport | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(
                Preset(str(data["preset"])),
                tuple(Check(Rule(str(r)), bool(p), str(m), str(e)) for r, p, m, e in data["checks"]),
            )
        except (KeyError, ValueError, TypeError):
            return None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> ComplianceReport | None:
        """The report `to_json` wrote (None when the text is not one)."""
        try:
            return cls.from_dict(json.loads(text))
        except ValueError:
            return None
