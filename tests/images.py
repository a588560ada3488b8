"""Moved to `fakes.images` (shared with bench/). Kept only for the six test modules not yet moved into
tests/unit/ (imaging, formats and privacy, local engine, the three vendor clients): import from
`fakes.images`, and delete this module once they do."""

from __future__ import annotations

from fakes.images import (
    BACKGROUND,
    PRIVATE_XMP,
    SUBJECT,
    encode,
    eps_bytes,
    jpeg_bytes,
    jpeg_with_gps,
    metadata_left,
    noisy_photo,
    png_bytes,
    private_exif,
    product_photo,
    psd_bytes,
)

__all__ = [
    "BACKGROUND",
    "PRIVATE_XMP",
    "SUBJECT",
    "encode",
    "eps_bytes",
    "jpeg_bytes",
    "jpeg_with_gps",
    "metadata_left",
    "noisy_photo",
    "png_bytes",
    "private_exif",
    "product_photo",
    "psd_bytes",
]
