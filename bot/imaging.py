"""Image preparation and full-resolution restoring.

Preparation makes an image acceptable to an endpoint or refuses it with the sizes in the message:
decode with Pillow (HEIC/HEIF through pillow-heif), apply EXIF orientation, convert what the endpoint
does not take (HEIC, WEBP, TIFF, GIF's first frame, CMYK, 16-bit, palette with transparency, a non-sRGB
ICC profile) to an 8-bit sRGB JPEG or PNG, downscale (aspect kept) under its side limit, re-encode
under its byte limit. What does not decode, what is too small, and decompression bombs are refused.

Restoring brings a result made from a downscaled copy back to the original size: the vendor's mask or
alpha is upscaled smoothly and applied to the original pixels.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import pillow_heif
from PIL import ExifTags, Image, ImageChops, ImageCms, ImageOps, UnidentifiedImageError

from bot.failures import TaskFailure
from bot.grammar import Output

pillow_heif.register_heif_opener()

MAX_PIXELS = 64_000_000  # refuse above this many pixels: a decompression-bomb guard (8000 × 8000)
_PASS_THROUGH_MODES = frozenset({"RGB", "RGBA", "L"})
_MIMETYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "BMP": "image/bmp", "WEBP": "image/webp"}
_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "BMP": "bmp", "WEBP": "webp"}
_JPEG_QUALITIES = (92, 85, 75)
_SRGB = ImageCms.createProfile("sRGB")
MASK_THRESHOLD = 128  # a mask pixel at or above this is "subject"
_SHRINK_STEP = 0.8


class ImageError(TaskFailure):
    """The image cannot be used: it does not decode, or is too small or too large for the endpoint."""


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """What one endpoint accepts (vendor-notes §4)."""

    endpoint: str  # who sets the limits, for messages: "AILabTools apparel"
    formats: frozenset[str]  # Pillow format names it takes as they are
    max_bytes: int
    max_side: int  # the largest width or height it takes
    min_side: int = 1  # the smallest width or height it takes


@dataclass(frozen=True, slots=True)
class PreparedImage:
    """An image as an endpoint will receive it: a file on disk (the original when it could be sent as it
    is), so a task waiting for the vendor holds no image in memory."""

    path: Path
    byte_size: int
    filename: str
    mimetype: str
    size: tuple[int, int]  # what the endpoint receives
    original_size: tuple[int, int]  # upright (EXIF orientation applied)

    @property
    def downscaled(self) -> bool:
        return self.size != self.original_size

    def read(self) -> bytes:
        """The bytes, for endpoints that take the image inside a JSON body."""
        return self.path.read_bytes()


def prepare_image(path: Path, limits: ImageLimits, *, name: str, out: Path) -> PreparedImage:
    """Make `path` acceptable to `limits`: the file itself when it is, else a re-encoded copy written to
    `out`. Raises ImageError with a message for the user."""
    stem = Path(name).stem or "image"
    image, source_format, turned = _open_upright(path, name)
    with image:
        width, height = image.size
        if min(width, height) < limits.min_side:
            raise ImageError(
                code="IMAGE_TOO_SMALL",
                message=f"`{_safe(name)}` is {width}×{height} pixels; {limits.endpoint} needs at least "
                f"{limits.min_side}×{limits.min_side}. Try a larger image.",
            )
        scale = min(1.0, limits.max_side / max(width, height))
        raw_size = path.stat().st_size
        if (
            scale == 1.0
            and source_format in limits.formats
            and image.mode in _PASS_THROUGH_MODES
            and not turned
            and _is_srgb(image)
            and raw_size <= limits.max_bytes
        ):
            return PreparedImage(
                path, raw_size, name, _MIMETYPES[source_format], (width, height), (width, height)
            )
        flat = _to_8bit(image)
        return _encode_within(flat, scale, limits, stem=stem, name=name, out=out)


def _refuse_what_is_not_a_photo(path: Path, name: str) -> None:
    """Name the common files that are not raster images, so the user knows what to export instead."""
    with open(path, "rb") as handle:
        head = handle.read(512)
    start = head.lstrip().lower()
    if not head:
        raise ImageError(code="FILE_EMPTY", message=f"`{_safe(name)}` is empty (0 bytes). Upload it again.")
    if head.startswith(b"%PDF"):
        raise ImageError(
            code="FILE_IS_PDF",
            message=f"`{_safe(name)}` is a PDF, not an image. Export the page as PNG or JPEG and drop that.",
        )
    if start.startswith(b"<svg") or (start.startswith(b"<?xml") and b"<svg" in start):
        raise ImageError(
            code="FILE_IS_SVG",
            message=f"`{_safe(name)}` is an SVG (a vector drawing), which has no pixels to cut out. "
            "Export it as PNG and drop that.",
        )
    if start.startswith((b"<!doctype html", b"<html")):
        raise ImageError(
            code="FILE_IS_HTML",
            message=f"`{_safe(name)}` is a web page, not an image. Save the image itself and drop that.",
        )


def _open_upright(path: Path, name: str) -> tuple[Image.Image, str, bool]:
    """The decoded image turned upright, its format, and whether it had to be turned."""
    _refuse_what_is_not_a_photo(path, name)
    image: Image.Image | None = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            source_format = image.format or ""
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageError(
                    code="IMAGE_TOO_MANY_PIXELS",
                    message=f"`{_safe(name)}` is {width}×{height} pixels ({width * height / 1e6:.0f} megapixels); "
                    f"the bot takes at most {MAX_PIXELS // 1_000_000} megapixels. Try a smaller image.",
                )
            image.seek(0)
            image.load()
    except BaseException as error:
        if image is not None:
            image.close()
        if isinstance(error, (Image.DecompressionBombWarning, Image.DecompressionBombError)):
            raise ImageError(
                code="IMAGE_TOO_MANY_PIXELS",
                message=f"`{_safe(name)}` declares more pixels than the bot takes "
                f"({MAX_PIXELS // 1_000_000} megapixels at most). Try a smaller image.",
            ) from None
        if isinstance(error, (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError)):
            raise ImageError(
                code="IMAGE_UNREADABLE",
                message=f"`{_safe(name)}` could not be read as an image (it may be damaged, truncated or not "
                "an image at all). Try exporting it again as JPEG or PNG.",
            ) from None
        raise
    if image.getexif().get(ExifTags.Base.Orientation, 1) in (None, 1):
        return image, source_format, False
    upright = ImageOps.exif_transpose(image)
    image.close()
    return upright, source_format, True


def load_original(path: Path, *, name: str) -> Image.Image:
    """The image upright, 8-bit sRGB (RGB or RGBA) and full size: what results are restored onto."""
    image, _, _ = _open_upright(path, name)
    flat = _to_8bit(image)
    if flat is not image:
        image.close()
    return flat


def _is_srgb(image: Image.Image) -> bool:
    icc = image.info.get("icc_profile")
    if not icc:
        return True
    try:
        description = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))
    except (ImageCms.PyCMSError, OSError, TypeError):
        return True  # an unreadable profile: treat the pixels as sRGB
    return "srgb" in description.lower()


def _to_srgb(image: Image.Image) -> Image.Image:
    """Pixels converted from an embedded ICC profile to sRGB (RGB/RGBA/CMYK images with a profile)."""
    icc = image.info.get("icc_profile")
    if not icc or _is_srgb(image) or image.mode not in ("RGB", "RGBA", "CMYK"):
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        alpha = image.getchannel("A") if image.mode == "RGBA" else None
        converted = ImageCms.profileToProfile(
            image.convert("RGB") if alpha else image, source, _SRGB, outputMode="RGB"
        )
    except (ImageCms.PyCMSError, OSError):
        return image
    assert converted is not None
    if alpha is not None:
        converted.putalpha(alpha)
    return converted


def _to_8bit(image: Image.Image) -> Image.Image:
    """An sRGB RGB or RGBA version of any mode Pillow decodes (16-bit, CMYK, palette, …); the image itself
    when it is one already."""
    image = _to_srgb(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        gray = image if image.mode == "I" else image.convert("I")
        peak = gray.getextrema()[1] or 1
        factor = 255 / 65535 if peak > 255 else 1
        return gray.point(lambda value: value * factor).convert("L").convert("RGB")
    if image.mode == "F":
        return image.convert("L").convert("RGB")
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    target = "RGBA" if has_alpha else "RGB"
    return image if image.mode == target else image.convert(target)  # no copy of what is ready


def _encode_within(
    image: Image.Image, scale: float, limits: ImageLimits, *, stem: str, name: str, out: Path
) -> PreparedImage:
    original = image.size
    alpha = image.mode == "RGBA"
    target = "PNG" if (alpha and "PNG" in limits.formats) or "JPEG" not in limits.formats else "JPEG"
    if target == "JPEG" and alpha:
        white = Image.new("RGB", image.size, (255, 255, 255))
        white.paste(image, mask=image.getchannel("A"))
        image = white
    for _ in range(12):
        size = (max(1, round(original[0] * scale)), max(1, round(original[1] * scale)))
        if min(size) < limits.min_side:
            break
        resized = (
            image if size == image.size else image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        )
        for quality in _JPEG_QUALITIES if target == "JPEG" else (None,):
            data = _encode(resized, target, quality)
            if len(data) <= limits.max_bytes:
                out.write_bytes(data)
                return PreparedImage(
                    out, len(data), f"{stem}.{_EXTENSIONS[target]}", _MIMETYPES[target], size, original
                )
        scale *= _SHRINK_STEP
    raise ImageError(
        code="IMAGE_TOO_LARGE",
        message=f"`{_safe(name)}` ({original[0]}×{original[1]} pixels) could not be brought under "
        f"{limits.endpoint}'s limits ({limits.max_side} pixels a side, {limits.max_bytes // 1_000_000} MB) "
        f"while keeping at least {limits.min_side} pixels on its short side.",
    )


def _encode(image: Image.Image, target: str, quality: int | None) -> bytes:
    buffer = io.BytesIO()
    if target == "JPEG":
        image.save(buffer, "JPEG", quality=quality, optimize=True)
    else:
        image.save(buffer, "PNG", compress_level=6)
    return buffer.getvalue()


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
    """A composed result as file bytes; JPEG for opaque colour, PNG otherwise."""
    buffer = io.BytesIO()
    if image.mode == "RGB":
        image.save(buffer, "JPEG", quality=92)
    else:
        image.save(buffer, "PNG", compress_level=6)
    return buffer.getvalue()


def save_result(image: Image.Image, path: Path) -> str:
    """Write a composed result; JPEG for opaque colour, PNG otherwise. Returns the extension used."""
    if image.mode == "RGB":
        image.save(path, "JPEG", quality=92)
        return "jpg"
    image.save(path, "PNG", compress_level=6)
    return "png"


def image_size(path: Path) -> tuple[int, int] | None:
    """Width and height of an image file, or None when it is not one."""
    try:
        with Image.open(path) as image:
            return image.size
    except (UnidentifiedImageError, OSError):
        return None


def _safe(name: str) -> str:
    short = name if len(name) <= 80 else name[:79] + "…"
    return short.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("`", "'")
