"""Real images made by the tests: a subject on a plain studio background, and variations."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw

BACKGROUND = (236, 238, 240)
SUBJECT = (200, 40, 60)


def product_photo(width: int = 640, height: int = 480, *, mode: str = "RGB") -> Image.Image:
    """A red rounded shape (the subject) on a light grey background."""
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle(
        (width * 0.25, height * 0.15, width * 0.75, height * 0.85),
        radius=min(width, height) // 10,
        fill=SUBJECT,
    )
    return image.convert(mode) if mode != "RGB" else image


def noisy_photo(width: int, height: int, *, seed: int = 1) -> Image.Image:
    """Hard-to-compress pixels, for byte-limit tests."""
    rng = random.Random(seed)
    return Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))


def encode(image: Image.Image, fmt: str = "JPEG", **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def jpeg_bytes(width: int = 640, height: int = 480) -> bytes:
    return encode(product_photo(width, height), "JPEG", quality=90)


def png_bytes(width: int = 640, height: int = 480) -> bytes:
    return encode(product_photo(width, height), "PNG")
