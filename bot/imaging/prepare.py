"""Preparation makes an image acceptable to an endpoint or refuses it with the sizes in the message:
apply EXIF orientation, convert what the endpoint does not take (HEIC, WEBP, TIFF, GIF's first frame,
CMYK, 16-bit, palette with transparency, a non-sRGB ICC profile) to an 8-bit sRGB JPEG or PNG, downscale
(aspect kept) under its side limit, re-encode under its byte limit. What is too small is refused.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from bot.domain.text import quote
from bot.imaging.decode import ImageError, is_srgb, open_upright, to_8bit

_PASS_THROUGH_MODES = frozenset({"RGB", "RGBA", "L"})

_MIMETYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "BMP": "image/bmp", "WEBP": "image/webp"}

_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "BMP": "bmp", "WEBP": "webp"}

_JPEG_QUALITIES = (92, 85, 75)

_SHRINK_STEP = 0.8


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
    image, source_format, turned = open_upright(path, name)
    with image:
        width, height = image.size
        if min(width, height) < limits.min_side:
            raise ImageError(
                code="IMAGE_TOO_SMALL",
                message=f"{quote(name)} is {width}×{height} pixels; {limits.endpoint} needs at least "
                f"{limits.min_side}×{limits.min_side}. Try a larger image.",
            )
        scale = min(1.0, limits.max_side / max(width, height))
        raw_size = path.stat().st_size
        if (
            scale == 1.0
            and source_format in limits.formats
            and image.mode in _PASS_THROUGH_MODES
            and not turned
            and is_srgb(image)
            and raw_size <= limits.max_bytes
        ):
            return PreparedImage(
                path, raw_size, name, _MIMETYPES[source_format], (width, height), (width, height)
            )
        flat = to_8bit(image)
        return _encode_within(flat, scale, limits, stem=stem, name=name, out=out)


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
        message=f"{quote(name)} ({original[0]}×{original[1]} pixels) could not be brought under "
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
