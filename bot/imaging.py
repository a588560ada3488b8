"""Image preparation: make an image acceptable to an endpoint, or refuse it with the sizes in the message.

Decode with Pillow, apply EXIF orientation, convert what the endpoint does not take to an 8-bit JPEG
or PNG, downscale (aspect kept) under its side limit, re-encode under its byte limit. Refuse what does
not decode, what is too small, and decompression bombs.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from bot.failures import TaskFailure

MAX_PIXELS = 64_000_000  # refuse above this many pixels: a decompression-bomb guard (8000 × 8000)
_PASS_THROUGH_MODES = frozenset({"RGB", "RGBA", "L"})
_MIMETYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "BMP": "image/bmp", "WEBP": "image/webp"}
_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "BMP": "bmp", "WEBP": "webp"}
_JPEG_QUALITIES = (92, 85, 75)
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
    data: bytes
    filename: str
    mimetype: str
    size: tuple[int, int]  # what the endpoint receives
    original_size: tuple[int, int]  # upright (EXIF orientation applied)

    @property
    def downscaled(self) -> bool:
        return self.size != self.original_size


def prepare_image(path: Path, limits: ImageLimits, *, name: str) -> PreparedImage:
    """Read `path` and return bytes `limits` accepts. Raises ImageError with a message for the user."""
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
            and raw_size <= limits.max_bytes
        ):
            return PreparedImage(
                path.read_bytes(), name, _MIMETYPES[source_format], (width, height), (width, height)
            )
        flat = _to_8bit(image)
        return _encode_within(flat, scale, limits, stem=stem, name=name)


def _open_upright(path: Path, name: str) -> tuple[Image.Image, str, bool]:
    """The decoded image turned upright, its format, and whether it had to be turned."""
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


def _to_8bit(image: Image.Image) -> Image.Image:
    """An RGB or RGBA copy of any mode Pillow decodes (16-bit, CMYK, palette, …)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        gray = image if image.mode == "I" else image.convert("I")
        peak = gray.getextrema()[1] or 1
        factor = 255 / 65535 if peak > 255 else 1
        return gray.point(lambda value: value * factor).convert("L").convert("RGB")
    if image.mode == "F":
        return image.convert("L").convert("RGB")
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    return image.convert("RGBA" if has_alpha else "RGB")


def _encode_within(
    image: Image.Image, scale: float, limits: ImageLimits, *, stem: str, name: str
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
                return PreparedImage(
                    data, f"{stem}.{_EXTENSIONS[target]}", _MIMETYPES[target], size, original
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
