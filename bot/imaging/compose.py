"""Results: masks, composing the look asked for from the original pixels (restoring full size when the
engine worked on a downscaled copy: its mask is upscaled smoothly), and writing files.

Results carry no metadata of the original: what the bot writes (`save_result`, `encode_result`) keeps an
ICC profile and nothing else (no EXIF, GPS, XMP or comment), and a vendor's file that carries any is
re-encoded without it (`clean_result`).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import ExifTags, Image, ImageChops, ImageOps

from bot.domain.grammar import Output
from bot.imaging.decode import open_result, to_8bit

MASK_THRESHOLD = 128  # a mask pixel at or above this is "subject"


def mask_of(result: Image.Image) -> Image.Image:
    """The mask a vendor result carries: its alpha channel, or the image itself when it is a mask."""
    if result.mode in ("RGBA", "LA", "PA") or (result.mode == "P" and "transparency" in result.info):
        return result.convert("RGBA").getchannel("A")
    return result.convert("L")


def fit_mask(mask: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The mask at `size`, scaled smoothly when it differs."""
    return mask if mask.size == size else mask.resize(size, Image.Resampling.BICUBIC)


def has_subject(mask: Image.Image) -> bool:
    """Whether any pixel of the mask is subject rather than background."""
    return mask.point(lambda v: 255 if v >= MASK_THRESHOLD else 0).getbbox() is not None


def compose(original: Image.Image, mask: Image.Image, output: Output) -> Image.Image:
    """The `output` look of `original` cut out by `mask` (fitted to the original's size first)."""
    mask = fit_mask(mask, original.size)
    if output is Output.MASK:
        return mask
    if output is Output.WHITE:
        white = Image.new("RGB", original.size, (255, 255, 255))
        white.paste(original if original.mode == "RGB" else original.convert("RGB"), mask=mask)
        return white
    cutout = original.convert("RGBA")
    if original.mode == "RGBA":
        mask = ImageChops.darker(original.getchannel("A"), mask)  # keep what was already transparent
    cutout.putalpha(mask)
    # What cannot be seen carries no colour: a photo's background noise under alpha 0 would make the PNG
    # three times larger and three times slower to write.
    cutout.paste((0, 0, 0, 0), mask=mask.point(lambda v: 255 if v == 0 else 0))
    if output is Output.CROP:
        box = mask.point(lambda v: 255 if v >= 8 else 0).getbbox()
        if box:
            cutout = cutout.crop(box)
    return cutout


def fit_to_target(cutout: Image.Image, target: tuple[int, int], *, white: bool) -> Image.Image:
    """A product shot at exactly `target`: the subject cropped to its alpha, scaled to fit, centred."""
    rgba = cutout.convert("RGBA")
    box = rgba.getchannel("A").point(lambda v: 255 if v >= 8 else 0).getbbox() or (0, 0, *rgba.size)
    subject = rgba.crop(box)
    scale = min(target[0] / subject.size[0], target[1] / subject.size[1])
    size = (max(1, round(subject.size[0] * scale)), max(1, round(subject.size[1] * scale)))
    subject = subject.resize(size, Image.Resampling.LANCZOS)
    canvas = Image.new("RGBA", target, (255, 255, 255, 255) if white else (0, 0, 0, 0))
    canvas.alpha_composite(subject, ((target[0] - size[0]) // 2, (target[1] - size[1]) // 2))
    return canvas.convert("RGB") if white else canvas


def encode_result(image: Image.Image) -> bytes:
    """A composed result as file bytes; JPEG for opaque colour, PNG otherwise. No metadata but an ICC
    profile (see `_bare`)."""
    buffer = io.BytesIO()
    _write_result(image, buffer)
    return buffer.getvalue()


def save_result(image: Image.Image, path: Path) -> str:
    """Write a composed result; JPEG for opaque colour, PNG otherwise. Returns the extension used. No
    metadata but an ICC profile (see `_bare`)."""
    return _write_result(image, path)


def _write_result(image: Image.Image, target: Path | io.BytesIO) -> str:
    params = _bare(image)
    if image.mode == "RGB":
        image.save(target, "JPEG", quality=92, **params)
        return "jpg"
    image.save(target, "PNG", compress_level=6, **params)
    return "png"


def _bare(image: Image.Image) -> dict[str, Any]:
    """Save parameters that keep only the ICC profile of a colour image, and `image.info` emptied: what the
    original carried (EXIF with GPS, XMP, a comment, text) travels in `info` through every convert and
    copy, and some encoders read it from there (JPEG writes `info`'s comment, PNG its profile)."""
    icc = image.info.get("icc_profile") if image.mode in ("RGB", "RGBA", "CMYK") else None
    image.info = {}
    return {"icc_profile": icc} if icc else {}


# What a vendor's result may carry and still be kept byte for byte: nothing but these `info` keys (what a
# decoder reads from the file's layout and colour chunks), and no EXIF.
_PLAIN_INFO = frozenset(
    {
        "icc_profile", "dpi", "jfif", "jfif_version", "jfif_unit", "jfif_density", "adobe", "adobe_transform",
        "progressive", "progression", "gamma", "srgb", "chromaticity", "transparency", "aspect",
        "interlace", "background", "duration", "loop", "version", "timestamp",
    }
)  # fmt: skip

_PLAIN_JPEG_SEGMENTS = (("APP0", b"JFIF"), ("APP2", b"ICC_PROFILE"), ("APP14", b"Adobe"))

_KEPT_AS_THEY_ARE = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif"}


def clean_result(path: Path) -> str:
    """Check a vendor's result file as an input is checked (documented formats, MAX_PIXELS, it decodes) and
    return the extension it goes by. A file that carries metadata (EXIF, GPS, XMP, comments, text, an
    MPO's other pictures) or is in a format not shown everywhere (TIFF, BMP, HEIC) is re-encoded in place
    without it, turned upright if its EXIF said so: a JPEG stays a JPEG, anything else becomes a PNG. The
    ICC profile stays. Raises ImageError (saying "a result file")."""
    with open_result(path) as image:
        source_format = image.format or ""
        if source_format in _KEPT_AS_THEY_ARE and not _carries_metadata(image):
            return _KEPT_AS_THEY_ARE[source_format]
        turned = image.getexif().get(ExifTags.Base.Orientation, 1) not in (None, 1)
        flat = ImageOps.exif_transpose(image) if turned else image
        jpeg = source_format in ("JPEG", "MPO") and flat.mode in ("L", "RGB", "CMYK")
        if not jpeg:
            if "transparency" in flat.info or flat.mode in ("P", "PA"):
                flat = flat.convert("RGBA")
            elif flat.mode not in ("1", "L", "LA", "RGB", "RGBA"):
                flat = to_8bit(flat)
        keep_quality = flat is image and source_format == "JPEG"  # the same quantisation, no second loss
        params = _bare(flat)
        cleaned = path.with_name(path.name + ".clean")
        if jpeg:
            flat.save(cleaned, "JPEG", quality="keep" if keep_quality else 95, **params)
        else:
            flat.save(cleaned, "PNG", compress_level=6, **params)
    cleaned.replace(path)
    return "jpg" if jpeg else "png"


def _carries_metadata(image: Image.Image) -> bool:
    if image.info.keys() - _PLAIN_INFO or image.getexif():
        return True
    segments = getattr(image, "applist", [])  # a JPEG's APPn segments, whatever Pillow made of them
    return any(
        not any(marker == plain and data.startswith(tag) for plain, tag in _PLAIN_JPEG_SEGMENTS)
        for marker, data in segments
    )
