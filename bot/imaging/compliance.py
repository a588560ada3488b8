"""The compliance check: an image file measured, as it is, against a marketplace's rules for a main image
(`check_image`), rule by rule, each with what was measured and what passes, in plain words.

- background: the share of the frame's outer band (BAND_SHARE of the shorter side, at least BAND_MIN
  pixels) that is white — exactly 255, 255, 255 for a pure-white preset, each channel ≥ WHITE_ENOUGH
  otherwise — and opaque; all of it must be.
- fill: the subject's box (pixels neither white enough nor like the band's own colour, and opaque) — its
  longer side relative to the canvas — within the preset's range (give or take FILL_SLACK_PX).
- centring: the box's centre at most CENTRING_TOLERANCE of the side from the canvas's centre.
- size: the shorter side at least the preset's minimum. format: JPEG or PNG, colour (RGB, not CMYK or
  greyscale), no ICC profile or an sRGB one. bytes: the file at most the cap. transparency: no pixel
  with alpha below 255.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms

from bot.domain.listing import PRESETS, WHITE_ENOUGH, Check, ComplianceReport, Preset, PresetRules, Rule
from bot.imaging.decode import ImageError, is_srgb, open_image, to_8bit

__all__ = ["BAND_MIN", "BAND_SHARE", "CENTRING_TOLERANCE", "check_image"]

BAND_SHARE = 0.02  # the outer band measured for background purity, as a share of the shorter side
BAND_MIN = 4  # … and at least this many pixels
CENTRING_TOLERANCE = 0.02  # the subject's centre may be this far from the canvas's (share of the side)
FILL_SLACK_PX = 2  # a box this close to the fill range passes: anti-aliasing and JPEG blur its edge so much
BACKGROUND_LIKE = 10  # a pixel within this of the band's median colour (every channel) is background
OPAQUE_ENOUGH = 128  # a pixel at least this opaque can be subject
JPEG_BLOCK = 8  # JPEG codes 8×8 blocks: ringing stays within the blocks an edge touches

_JPEG_NAMES = frozenset({"JPEG", "MPO"})  # a JPEG with a multi-picture index opens as MPO
_GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "F", "I;16", "I;16B", "I;16L"})
_COLOUR_MODES = frozenset({"RGB", "RGBA", "RGBa", "P", "PA"})


@dataclass(frozen=True, slots=True)
class Subject:
    """The subject's box on the canvas: left, top, right, bottom (exclusive)."""

    left: int
    top: int
    right: int
    bottom: int

    def fill(self, canvas: tuple[int, int]) -> tuple[float, str]:
        """The longer side relative to the canvas, and which side that is."""
        across = (self.right - self.left) / canvas[0]
        down = (self.bottom - self.top) / canvas[1]
        return (across, "width") if across > down else (down, "height")

    def offset(self, canvas: tuple[int, int]) -> tuple[float, str]:
        """How far the box's centre is from the canvas's, as a share of the side, and along which side."""
        across = abs((self.left + self.right) / 2 - canvas[0] / 2) / canvas[0]
        down = abs((self.top + self.bottom) / 2 - canvas[1] / 2) / canvas[1]
        return (across, "width") if across >= down else (down, "height")


@dataclass(frozen=True, slots=True)
class FileFacts:
    format: str  # Pillow's name: "JPEG", "PNG", …
    mode: str
    profile: str | None  # the ICC profile's name; None without one, "sRGB" for an sRGB one
    size: tuple[int, int]
    nbytes: int


def check_image(path: Path, preset: Preset) -> ComplianceReport:
    """The file at `path` measured against `preset`'s rules as it is (nothing converted first). Raises
    ImageError when it is not an image the bot decodes."""
    rules = PRESETS[preset]
    nbytes = path.stat().st_size
    with open_image(path, name=path.name) as image:
        facts = file_facts(image, nbytes)
        pixels = _rgba(image)
    return report(preset, rules, pixels, facts, find_subject(pixels), [])


def file_facts(image: Image.Image, nbytes: int) -> FileFacts:
    return FileFacts(image.format or "unknown", image.mode, _profile(image), image.size, nbytes)


def _profile(image: Image.Image) -> str | None:
    icc = image.info.get("icc_profile")
    if not icc:
        return None
    if is_srgb(image):
        return "sRGB"
    try:
        name = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))
    except (ImageCms.PyCMSError, OSError, TypeError):
        return "sRGB"  # unreadable: read as sRGB, as decoding does
    return name.strip() or "an unnamed colour profile"


def _rgba(image: Image.Image) -> np.ndarray:
    """The pixels as stored, as an H×W×4 uint8 array (16-bit and float modes brought to 8 bits)."""
    try:
        flat = image if image.mode in _COLOUR_MODES | {"1", "L", "LA", "CMYK"} else to_8bit(image)
        return np.asarray(flat.convert("RGBA"))
    except (ValueError, OSError):
        raise ImageError(
            code="IMAGE_UNMEASURABLE",
            message=f"The image's colour mode ({image.mode}) cannot be measured. Export it as JPEG or PNG.",
        ) from None


def band_width(size: tuple[int, int]) -> int:
    return max(BAND_MIN, round(BAND_SHARE * min(size)))


def _band(pixels: np.ndarray) -> np.ndarray:
    """The outer band's pixels, N×4."""
    height, width = pixels.shape[:2]
    band = band_width((width, height))
    inner = np.ones((height, width), dtype=bool)
    inner[band : height - band, band : width - band] = False
    return pixels[inner]


def find_subject(pixels: np.ndarray) -> Subject | None:
    """The box of the pixels that are opaque and neither white enough nor like the band's own colour."""
    median = np.median(_band(pixels)[:, :3], axis=0)
    subject = pixels[..., 3] >= OPAQUE_ENOUGH
    subject &= pixels[..., :3].min(axis=2) < WHITE_ENOUGH
    like = np.ones(subject.shape, dtype=bool)
    for channel in range(3):
        like &= np.abs(pixels[..., channel].astype(np.int16) - int(median[channel])) <= BACKGROUND_LIKE
    subject &= ~like
    rows, columns = np.flatnonzero(subject.any(axis=1)), np.flatnonzero(subject.any(axis=0))
    if rows.size == 0:
        return None
    return Subject(int(columns[0]), int(rows[0]), int(columns[-1]) + 1, int(rows[-1]) + 1)


def report(
    preset: Preset,
    rules: PresetRules,
    pixels: np.ndarray,
    facts: FileFacts,
    subject: Subject | None,
    extra: list[Check],
) -> ComplianceReport:
    checks = [
        _background(pixels, rules),
        *_fill_and_centring(subject, facts.size, rules),
        _size(facts.size, rules),
        _format(facts),
        _bytes(facts.nbytes, rules),
        _transparency(pixels),
        *extra,
    ]
    return ComplianceReport(preset, tuple(checks))


def _background(pixels: np.ndarray, rules: PresetRules) -> Check:
    band = _band(pixels)
    opaque = band[:, 3] == 255
    white = band[:, :3].min(axis=1) >= (255 if rules.pure_white else WHITE_ENOUGH)
    share = float(np.count_nonzero(white & opaque)) / max(1, band.shape[0])
    kind = "pure white" if rules.pure_white else "white"
    measured = f"{share_text(share)} of the edge is {kind}"
    if share < 1.0:
        measured += f" ({share_text(1.0 - share, up=True)} is not)"
    expected = (
        "pure white #FFFFFF at the edge"
        if rules.pure_white
        else f"white at the edge (each channel ≥ {WHITE_ENOUGH})"
    )
    return Check(Rule.BACKGROUND, share >= 1.0, measured, expected)


def _fill_and_centring(subject: Subject | None, size: tuple[int, int], rules: PresetRules) -> list[Check]:
    low, high = rules.fill_range
    fill_expected = f"{percent(low, sign=False)}–{percent(high)} of the frame"
    centring_expected = f"within {percent(CENTRING_TOLERANCE)} of the centre"
    if subject is None:
        nothing = "no subject found: the image is all background"
        return [
            Check(Rule.FILL, False, nothing, fill_expected),
            Check(Rule.CENTRING, False, nothing, centring_expected),
        ]
    fill, side = subject.fill(size)
    slack = FILL_SLACK_PX / (size[0] if side == "width" else size[1])
    fill_passes = low - slack <= fill <= high + slack
    offset, off_side = subject.offset(size)
    return [
        Check(Rule.FILL, fill_passes, f"fills {percent(fill)} of the {side}", fill_expected),
        Check(
            Rule.CENTRING,
            offset <= CENTRING_TOLERANCE,
            f"off centre by {percent(offset)} of the {off_side}",
            centring_expected,
        ),
    ]


def _size(size: tuple[int, int], rules: PresetRules) -> Check:
    return Check(
        Rule.SIZE,
        min(size) >= rules.min_side,
        f"{size[0]}×{size[1]} px",
        f"at least {rules.min_side} px on each side",
    )


def _format(facts: FileFacts) -> Check:
    name = "JPEG" if facts.format in _JPEG_NAMES else facts.format
    if facts.mode == "CMYK":
        space = "CMYK"
    elif facts.mode in _GREY_MODES:
        space = "greyscale"
    elif facts.mode not in _COLOUR_MODES:
        space = facts.mode
    else:
        space = facts.profile or "sRGB"
    passed = name in ("JPEG", "PNG") and space == "sRGB"
    return Check(Rule.FORMAT, passed, f"{name}, {space}", "JPEG or PNG, sRGB")


def _bytes(nbytes: int, rules: PresetRules) -> Check:
    passed = nbytes <= rules.max_bytes
    measured = megabytes(nbytes)
    if not passed and measured == megabytes(rules.max_bytes):
        measured = f"{nbytes:,} bytes"
    return Check(Rule.BYTES, passed, measured, f"at most {megabytes(rules.max_bytes)}")


def _transparency(pixels: np.ndarray) -> Check:
    see_through = float(np.count_nonzero(pixels[..., 3] < 255)) / max(1, pixels.shape[0] * pixels.shape[1])
    measured = (
        "fully opaque"
        if see_through == 0
        else f"{share_text(see_through, up=True)} of the pixels are see-through"
    )
    return Check(Rule.TRANSPARENCY, see_through == 0, measured, "fully opaque")


def resolution_check(source: tuple[int, int], wanted: float, limit: float) -> Check:
    """The failing check of a subject that had to be enlarged past `limit`: the source is too small."""
    return Check(
        Rule.RESOLUTION,
        False,
        f"the subject is {source[0]}×{source[1]} px in the photo and would need {wanted:.1f}× enlargement",
        f"at most {limit:g}× enlargement",
    )


def percent(share: float, *, sign: bool = True) -> str:
    """0.905 → "90.5%"; without `sign`, the bare number (for "85–95%")."""
    text = f"{round(share * 100, 1):g}"
    return f"{text}%" if sign else text


def share_text(share: float, *, up: bool = False) -> str:
    """A share as a percentage that never rounds to a whole it is not: 0.99996 → "99.9%"; rounded up with
    `up` (0.00004 → "0.1%")."""
    if share >= 1.0:
        return "100%"
    if share <= 0.0:
        return "0%"
    tenths = math.ceil(share * 1000) if up else math.floor(share * 1000)
    return f"{min(max(tenths, 1), 999) / 10:g}%"


def megabytes(nbytes: int) -> str:
    """1_834_000 → "1.8 MB"; 640_000 → "640 KB" (decimal units, as the marketplaces write them)."""
    if nbytes >= 1_000_000:
        return f"{round(nbytes / 1_000_000, 1):g} MB"
    return f"{max(1, round(nbytes / 1000))} KB"
