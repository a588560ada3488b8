"""Real images made by the tests and the benchmarks: a subject on a plain studio background, and variations."""

from __future__ import annotations

import io
import random

from PIL import ExifTags, Image, ImageCms, ImageDraw

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


def private_exif() -> bytes:
    """EXIF as a phone writes it: the maker and where the photo was taken (GPS)."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.DateTime] = "2024:06:01 10:00:00"
    exif[ExifTags.IFD.GPSInfo] = {1: "N", 2: (51.0, 30.0, 12.5), 3: "W", 4: (0.0, 7.0, 39.0)}
    return exif.tobytes()


PRIVATE_XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><exif:GPSLatitude>51,30N</exif:GPSLatitude></x:xmpmeta>'


def jpeg_with_gps(width: int = 640, height: int = 480, *, icc: bool = True) -> bytes:
    """A product photo as a phone saves it: GPS EXIF, XMP, a comment and (by default) an sRGB profile."""
    params: dict[str, object] = {"exif": private_exif(), "xmp": PRIVATE_XMP, "comment": b"shot at home"}
    if icc:
        params["icc_profile"] = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return encode(product_photo(width, height), "JPEG", quality=90, **params)


def metadata_left(data: bytes) -> dict[str, object]:
    """What of the original's metadata an image file still carries (empty when none)."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        left: dict[str, object] = {k: v for k, v in image.info.items() if k in ("exif", "xmp", "comment")}
        left.update({k: v for k, v in image.info.items() if "xmp" in k.lower() or "exif" in k.lower()})
        if exif := dict(image.getexif()):
            left["getexif"] = exif
    return left


def eps_bytes() -> bytes:
    """A tiny valid EPS: Pillow would hand its pixels to Ghostscript."""
    return (
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n%%EndComments\n"
        b"newpath 0 0 moveto 10 0 lineto 10 10 lineto closepath fill\nshowpage\n%%EOF\n"
    )


def psd_bytes(width: int = 8, height: int = 8) -> bytes:
    """A minimal valid Photoshop file (RGB, 8-bit, uncompressed), which Pillow decodes."""
    header = b"8BPS" + (1).to_bytes(2, "big") + bytes(6) + (3).to_bytes(2, "big")
    header += (
        height.to_bytes(4, "big") + width.to_bytes(4, "big") + (8).to_bytes(2, "big") + (3).to_bytes(2, "big")
    )
    sections = bytes(4) * 3  # colour mode data, image resources, layers: all empty
    planes = bytes([200]) * (width * height) + bytes([40]) * (width * height) * 2
    return header + sections + (0).to_bytes(2, "big") + planes
