"""Listing photos: a cut-out laid out for a marketplace's main image (`lay_out`), and an image file measured
against a marketplace's rules as it is (`check_image`).

A layout crops the original to the subject's box, scales it so its longer side (relative to the canvas)
fills the layout's share, centres it and composites it over the background: every pixel the mask leaves
at 0 is exactly the background colour, also after JPEG encoding (4:4:4, a flat 8×8 block of white decodes
to 255). The JPEG carries no EXIF, ICC or XMP (plain sRGB); its quality steps down from QUALITY_START to
QUALITY_FLOOR until it is under the preset's byte cap. The subject is enlarged at most MAX_UPSCALE times.

The compliance report (`bot.domain.listing.ComplianceReport`) is measured from the file's pixels; for a
laid-out result, fill and centring come from the placement, since a white subject on white cannot be found
from pixels. The checks themselves are in `bot.imaging.compliance`; `check_image` is named here too.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from bot.domain.listing import ComplianceReport, Layout, PresetRules
from bot.imaging.compliance import (
    JPEG_BLOCK,
    Subject,
    band_width,
    check_image,
    file_facts,
    megabytes,
    percent,
    report,
    resolution_check,
)
from bot.imaging.compose import fit_mask
from bot.imaging.decode import MAX_PIXELS, ImageError

__all__ = ["MAX_UPSCALE", "QUALITY_FLOOR", "QUALITY_START", "ListingImage", "check_image", "lay_out"]

SUBJECT_ALPHA = 8  # mask values below this are background: an engine's faint noise never tints the frame
# The subject is enlarged at most this much: past twice its size its edges go visibly soft, and Amazon and
# Google both ask for no enlarged photos; a subject that needs more gets a failing RESOLUTION check.
MAX_UPSCALE = 2.0
QUALITY_START = 95  # JPEG quality tried first
QUALITY_STEP = 5
QUALITY_FLOOR = 70  # never lower: below it blocks and ringing show on product edges
MIN_SHARE = 0.05  # a fill below this is taken as this (the canvas would be 20 times the subject)
SHADOW_OPACITY = 0.45  # the contact shadow's darkest point, before blurring, as a share of black


@dataclass(frozen=True, slots=True)
class ListingImage:
    """A laid-out listing image: the file's bytes, its extension ("jpg" or "png"), its size, the compliance
    report (for a preset) and plain-text notes for the user."""

    data: bytes
    extension: str
    size: tuple[int, int]
    report: ComplianceReport | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Placement:
    canvas: tuple[int, int]
    left: int
    top: int
    size: tuple[int, int]  # the subject's box on the canvas
    source: tuple[int, int]  # the subject's box in the original
    wanted: float  # the scale the share asked for (the one used is at most MAX_UPSCALE)

    def subject(self) -> Subject:
        return Subject(self.left, self.top, self.left + self.size[0], self.top + self.size[1])


def lay_out(original: Image.Image, mask: Image.Image, layout: Layout) -> ListingImage:
    """`original` (8-bit sRGB, full size) cut out by `mask` (its alpha: L, the same size) and laid out as
    `layout` says; ImageError when the mask holds no subject or the canvas would be too large."""
    rgb, alpha = _inputs(original, mask)
    box = alpha.getbbox()
    if box is None:
        raise ImageError(code="NO_SUBJECT", message="The cut-out is empty: there is no subject to lay out.")
    placement = _place((box[2] - box[0], box[3] - box[1]), layout)
    canvas = _canvas(layout, placement)
    if layout.shadow:
        _add_shadow(canvas, placement)
    _paste_subject(canvas, rgb.crop(box), alpha.crop(box), placement)
    rules = layout.rules
    data, extension, quality = _encode(canvas, rules)
    notes = _notes(rules, placement, layout, quality, len(data))
    listing_report = _report(data, rules, placement, layout) if rules is not None else None
    return ListingImage(data, extension, canvas.size, listing_report, tuple(notes))


def _inputs(original: Image.Image, mask: Image.Image) -> tuple[Image.Image, Image.Image]:
    """The original as RGB and the mask at its size, faint values cleared (an RGBA original's own
    transparency kept)."""
    alpha = fit_mask(mask if mask.mode == "L" else mask.convert("L"), original.size)
    if original.mode == "RGBA":
        alpha = ImageChops.darker(original.getchannel("A"), alpha)
    rgb = original if original.mode == "RGB" else original.convert("RGB")
    return rgb, alpha.point(lambda v: 0 if v < SUBJECT_ALPHA else v)


def _place(box: tuple[int, int], layout: Layout) -> _Placement:
    """Where the subject's box goes: scaled so its longer side (relative to the canvas) fills the share,
    centred. Without a canvas size, the canvas is the box grown so the box fills the share."""
    width, height = box
    share = min(max(layout.share(), MIN_SHARE), 1.0)
    rules = layout.rules
    canvas = layout.size or (rules.canvas if rules else None)
    if canvas is None:
        canvas = (max(1, round(width / share)), max(1, round(height / share)))
        wanted = min(1.0, math.sqrt(MAX_PIXELS / (canvas[0] * canvas[1])))
        canvas = (max(1, round(canvas[0] * wanted)), max(1, round(canvas[1] * wanted)))
    else:
        wanted = share * min(canvas[0] / width, canvas[1] / height)
    if canvas[0] * canvas[1] > MAX_PIXELS:
        raise ImageError(
            code="CANVAS_TOO_LARGE",
            message=f"A {canvas[0]}×{canvas[1]} canvas is larger than the bot makes "
            f"({MAX_PIXELS // 1_000_000} megapixels at most).",
        )
    scale = min(wanted, MAX_UPSCALE)
    size = (min(canvas[0], max(1, round(width * scale))), min(canvas[1], max(1, round(height * scale))))
    left, top = (canvas[0] - size[0]) // 2, (canvas[1] - size[1]) // 2
    return _Placement(canvas, left, top, size, box, wanted)


def _canvas(layout: Layout, placement: _Placement) -> Image.Image:
    if layout.transparent:
        return Image.new("RGBA", placement.canvas, (0, 0, 0, 0))
    return Image.new("RGB", placement.canvas, layout.colour())


def _add_shadow(canvas: Image.Image, placement: _Placement) -> None:
    """A soft contact shadow: a blurred flat ellipse centred on the subject's bottom edge (the subject
    covers its upper half), kept clear of the canvas's outer band and the JPEG blocks touching it."""
    width, height = canvas.size
    keep_clear = band_width(canvas.size) + JPEG_BLOCK
    bottom = placement.top + placement.size[1]
    room = height - keep_clear - bottom
    if room < 4:
        return  # the subject reaches the band: no room for a shadow below it
    subject_width = placement.size[0]
    half_height = max(1.0, min(0.035 * subject_width, 0.4 * room))
    blur = max(1.0, min(0.025 * subject_width, (room - half_height) / 3))
    centre = placement.left + subject_width / 2
    half_width = 0.45 * subject_width
    pad = math.ceil(3 * blur) + 1
    left = max(keep_clear, math.floor(centre - half_width) - pad)
    right = min(width - keep_clear, math.ceil(centre + half_width) + pad)
    top = max(keep_clear, math.floor(bottom - half_height) - pad)
    lower = height - keep_clear
    if right - left < 2 or lower - top < 2:
        return
    layer = Image.new("L", (right - left, lower - top), 0)
    ImageDraw.Draw(layer).ellipse(
        (
            centre - half_width - left,
            bottom - half_height - top,
            centre + half_width - left,
            bottom + half_height - top,
        ),
        fill=round(255 * SHADOW_OPACITY),
    )
    layer = layer.filter(ImageFilter.GaussianBlur(blur))
    shadow = (0, 0, 0, 255) if canvas.mode == "RGBA" else (0, 0, 0)
    canvas.paste(shadow, (left, top), layer)


def _paste_subject(canvas: Image.Image, rgb: Image.Image, alpha: Image.Image, placement: _Placement) -> None:
    """The subject composited over the canvas. Colour is scaled premultiplied by alpha, so the photo's own
    background never fringes the edge; where the scaled alpha is 0 the canvas stays exactly as it was."""
    premultiplied = Image.new("RGB", rgb.size, (0, 0, 0))
    premultiplied.paste(rgb, (0, 0), alpha)
    if placement.size != rgb.size:
        premultiplied = premultiplied.resize(placement.size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        alpha = alpha.resize(placement.size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    x, y = placement.left, placement.top
    area = (x, y, x + placement.size[0], y + placement.size[1])
    covered = alpha.point(lambda v: 255 if v else 0)
    if canvas.mode == "RGB":  # premultiplied + under × (1 − alpha), in 8 bits
        clear = ImageChops.invert(alpha)
        under = ImageChops.multiply(canvas.crop(area), Image.merge("RGB", (clear, clear, clear)))
        canvas.paste(ImageChops.add(premultiplied, under), (x, y), covered)
        return
    under_rgba = np.asarray(canvas.crop(area), dtype=np.uint16)
    a = np.asarray(alpha, dtype=np.uint16)[..., None]
    keep = 255 - a
    under_alpha = under_rgba[..., 3:]
    out_alpha = a + (under_alpha * keep + 127) // 255
    under_colour = (under_rgba[..., :3] * under_alpha + 127) // 255 * keep
    out_colour = np.minimum(
        np.asarray(premultiplied, dtype=np.uint16) + (under_colour + 127) // 255, out_alpha
    )
    straight = (out_colour * 255 + out_alpha // 2) // np.maximum(out_alpha, 1)
    out = np.concatenate([straight, out_alpha], axis=2).astype(np.uint8)
    canvas.paste(Image.fromarray(out, "RGBA"), (x, y), covered)


def _encode(canvas: Image.Image, rules: PresetRules | None) -> tuple[bytes, str, int | None]:
    """The file: a PNG for transparency, else a JPEG whose quality steps down until it is under the
    preset's cap (never below QUALITY_FLOOR). Nothing but pixels: no EXIF, ICC profile, XMP or comment."""
    if canvas.mode == "RGBA":
        buffer = io.BytesIO()
        canvas.save(buffer, "PNG", compress_level=6)
        return buffer.getvalue(), "png", None
    quality = QUALITY_START
    data = _jpeg(canvas, quality)
    while rules is not None and len(data) > rules.max_bytes and quality > QUALITY_FLOOR:
        quality = max(QUALITY_FLOOR, quality - QUALITY_STEP)
        data = _jpeg(canvas, quality)
    return data, "jpg", quality


def _jpeg(canvas: Image.Image, quality: int) -> bytes:
    # Not optimize=True: its few per cent cost a second buffer that Pillow sizes at a byte a pixel below
    # quality 95, which a noisy picture outgrows (libjpeg: "Suspension not allowed here").
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=quality, subsampling=0)
    return buffer.getvalue()


def _notes(
    rules: PresetRules | None, placement: _Placement, layout: Layout, quality: int | None, size: int
) -> list[str]:
    notes: list[str] = []
    if placement.wanted > MAX_UPSCALE:
        width, height = placement.source
        canvas_width, canvas_height = placement.canvas
        notes.append(
            f"The photo is too small for this canvas: the subject is {width}×{height} px, and filling "
            f"{percent(layout.share())} of {canvas_width}×{canvas_height} would enlarge it "
            f"{placement.wanted:.1f}×; the bot enlarges at most {MAX_UPSCALE:g}×, so it fills "
            f"{percent(placement.subject().fill(placement.canvas)[0])}."
        )
    if rules is None:
        return notes
    limit = f"{rules.title}'s {megabytes(rules.max_bytes)} limit"
    if size > rules.max_bytes:
        made = f"even at JPEG quality {QUALITY_FLOOR}" if quality is not None else "as a PNG"
        notes.append(f"The file is {megabytes(size)} {made}, over {limit}.")
    elif quality is not None and quality < QUALITY_START:
        notes.append(f"JPEG quality lowered to {quality} to stay under {limit}.")
    return notes


def _report(data: bytes, rules: PresetRules, placement: _Placement, layout: Layout) -> ComplianceReport:
    """The report measured on the file made, with the subject where it was placed."""
    assert layout.preset is not None
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        facts = file_facts(image, len(data))
        pixels = np.asarray(image.convert("RGBA"))
    extra = (
        [resolution_check(placement.source, placement.wanted, MAX_UPSCALE)]
        if placement.wanted > MAX_UPSCALE
        else []
    )
    return report(layout.preset, rules, pixels, facts, placement.subject(), extra)
