"""Decoding: only the documented formats — JPEG, PNG, WEBP, GIF (its first frame), TIFF, BMP and HEIC/HEIF
(through pillow-heif) — whether the file is an input, a vendor's result or the local engine's input; Pillow
is never asked to try the other formats it knows (EPS would go to Ghostscript). Anything else is refused
naming what it is, read from its first bytes (`sniff`) or, failing that, from Pillow's reading of its
header alone (never its pixels). Every decode is capped at MAX_PIXELS (a decompression-bomb guard), turned
upright from EXIF, and brought to 8-bit sRGB where it needs to be.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pillow_heif
from PIL import ExifTags, Image, ImageCms, ImageOps, UnidentifiedImageError

from bot.domain.failures import TaskFailure
from bot.domain.text import quote

pillow_heif.register_heif_opener()  # HEIC/HEIF decode through Pillow once this module is imported


MAX_PIXELS = 64_000_000  # refuse above this many pixels: a decompression-bomb guard (8000 × 8000)

# The formats the bot decodes, by Pillow's names; pillow-heif registers its opener, for .heic and .heif
# alike, as "HEIF". A JPEG with a multi-picture index opens as "MPO" (through the JPEG opener).
DECODED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP", "HEIF")

TAKEN_IN_WORDS = "JPEG, PNG, WEBP, GIF, TIFF, BMP and HEIC"

_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L"})

_SRGB = ImageCms.createProfile("sRGB")


class ImageError(TaskFailure):
    """The image cannot be used: it does not decode, or is too small or too large for the endpoint."""


RESULT_LABEL = "a result file"  # how messages about a vendor's result file name it


@dataclass(frozen=True, slots=True)
class FileKind:
    """What a file's first bytes say it is."""

    name: str  # for messages: "PNG", "EPS", "Photoshop (PSD)"
    extension: str
    decoded: bool  # one of DECODED_FORMATS (whether the rest of it decodes is another matter)


_GIF = FileKind("GIF", "gif", True)

_TIFF = FileKind("TIFF", "tiff", True)

_EPS = FileKind("EPS", "eps", False)

# files that are not raster images at all: refused with what to export instead
PDF = FileKind("PDF", "pdf", False)
SVG = FileKind("SVG", "svg", False)
WEB_PAGE = FileKind("web page", "html", False)  # also what Slack answers a file download with when it refuses

_JPEG_2000 = FileKind("JPEG 2000", "jp2", False)

_MAGIC: tuple[tuple[bytes, int, FileKind], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, FileKind("PNG", "png", True)),
    (b"\xff\xd8\xff", 0, FileKind("JPEG", "jpg", True)),
    (b"GIF87a", 0, _GIF),
    (b"GIF89a", 0, _GIF),
    (b"WEBP", 8, FileKind("WEBP", "webp", True)),
    (b"II*\x00", 0, _TIFF),
    (b"MM\x00*", 0, _TIFF),
    (b"BM", 0, FileKind("BMP", "bmp", True)),
    (b"PK\x03\x04", 0, FileKind("ZIP", "zip", False)),
    (b"\xc5\xd0\xd3\xc6", 0, _EPS),  # EPS with a TIFF or WMF preview
    (b"8BPS", 0, FileKind("Photoshop (PSD)", "psd", False)),
    (b"\x00\x00\x01\x00", 0, FileKind("ICO", "ico", False)),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", 0, _JPEG_2000),
    (b"\xffO\xffQ", 0, _JPEG_2000),
)

_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
)

_PILLOW_NAMES = {"JPEG2000": "JPEG 2000", "PSD": "Photoshop (PSD)"}

_SAID_AS_LETTERS_WITH_A_VOWEL = frozenset("FHLMNRSX")  # "an SGI", "an XBM"


def sniff(head: bytes) -> FileKind | None:
    """What the first bytes of a file (512 are plenty) say it is — the formats the bot decodes, the common
    image formats it does not, and PDF, SVG and web pages — or None when they say nothing known."""
    start = head.lstrip().lower()
    if head.startswith(b"%PDF"):
        return PDF
    if start.startswith(b"<svg") or (start.startswith(b"<?xml") and b"<svg" in start):
        return SVG
    if start.startswith((b"<!doctype html", b"<html")):
        return WEB_PAGE
    if head[4:8] == b"ftyp":  # an ISO media file: its major brand, a version, then compatible brands
        end = min(len(head), int.from_bytes(head[:4], "big"))
        brands = {head[8:12]} | {head[i : i + 4] for i in range(16, end - 3, 4)}
        if brands & {b"avif", b"avis"}:
            return FileKind("AVIF", "avif", False)
        if brands & _HEIF_BRANDS:
            return FileKind("HEIC", "heic", True)
        return None  # a video, most likely
    for magic, offset, kind in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind
    if head.startswith(b"%!PS"):
        return _EPS if b"EPSF" in head.split(b"\n", 1)[0] else FileKind("PostScript", "ps", False)
    return None


def sniff_file(path: Path) -> FileKind | None:
    """`sniff` of the file at `path`."""
    with open(path, "rb") as handle:
        return sniff(handle.read(512))


def _refuse_by_head(path: Path, label: str, advise: bool) -> FileKind | None:
    """Refuse, by its first bytes, an empty file, the common files that are not raster images (so the user
    knows what to export instead) and the image formats the bot does not decode; else say what it seems."""
    with open(path, "rb") as handle:
        head = handle.read(512)
    if not head:
        raise _refusal("FILE_EMPTY", f"{label} is empty (0 bytes).", "Upload it again.", advise)
    kind = sniff(head)
    if kind is PDF:
        raise _refusal(
            "FILE_IS_PDF",
            f"{label} is a PDF, not an image.",
            "Export the page as PNG or JPEG and drop that.",
            advise,
        )
    if kind is SVG:
        raise _refusal(
            "FILE_IS_SVG",
            f"{label} is an SVG (a vector drawing), which has no pixels to cut out.",
            "Export it as PNG and drop that.",
            advise,
        )
    if kind is WEB_PAGE:
        raise _refusal(
            "FILE_IS_HTML",
            f"{label} is a web page, not an image.",
            "Save the image itself and drop that.",
            advise,
        )
    if kind is not None and not kind.decoded:
        raise _not_taken(label, kind.name, advise)
    return kind


def _refusal(code_: str, fact: str, advice: str, advise: bool) -> ImageError:
    return ImageError(code=code_, message=f"{fact} {advice}" if advise else fact)


def _not_taken(label: str, format_name: str, advise: bool) -> ImageError:
    article = "an" if _starts_with_a_vowel_sound(format_name) else "a"
    return _refusal(
        "IMAGE_FORMAT_NOT_TAKEN",
        f"{label} is {article} {format_name} file; the bot takes {TAKEN_IN_WORDS} images.",
        "Export it as JPEG or PNG and try again.",
        advise,
    )


def _starts_with_a_vowel_sound(name: str) -> bool:
    if name[:1] in ("A", "E", "I", "O", "U"):
        return True
    said_as_letters = name.isupper() and len(name) <= 4 and name not in ("FITS", "SUN")
    return said_as_letters and name[:1] in _SAID_AS_LETTERS_WITH_A_VOWEL


def _pillow_format(path: Path) -> str | None:
    """The format Pillow finds in the file's header when every format it knows may try, or None. Only the
    header is read, never the pixels (loading an EPS would start Ghostscript); any failure means None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                found = image.format
    except Exception:  # a best-effort name for a file already refused: any plugin's error means None
        return None
    if not found or found in DECODED_FORMATS:
        return None
    return _PILLOW_NAMES.get(found, found)


def _decode(path: Path, *, label: str, advise: bool) -> Image.Image:
    """The first frame of `path`, loaded: documented formats only, at most MAX_PIXELS; else ImageError.
    `label` names the file in messages (plain text); `advise` adds what the user can do."""
    kind = _refuse_by_head(path, label, advise)
    image: Image.Image | None = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path, formats=DECODED_FORMATS)
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise _refusal(
                    "IMAGE_TOO_MANY_PIXELS",
                    f"{label} is {width}×{height} pixels ({width * height / 1e6:.0f} megapixels); "
                    f"the bot takes at most {MAX_PIXELS // 1_000_000} megapixels.",
                    "Try a smaller image.",
                    advise,
                )
            image.seek(0)
            image.load()
    except BaseException as error:
        if image is not None:
            image.close()
        if isinstance(error, (Image.DecompressionBombWarning, Image.DecompressionBombError)):
            raise _refusal(
                "IMAGE_TOO_MANY_PIXELS",
                f"{label} declares more pixels than the bot takes ({MAX_PIXELS // 1_000_000} megapixels at most).",
                "Try a smaller image.",
                advise,
            ) from None
        format_name = (
            _pillow_format(path) if isinstance(error, UnidentifiedImageError) and kind is None else None
        )
        if format_name is not None:
            raise _not_taken(label, format_name, advise) from None
        if isinstance(error, (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError)):
            raise _refusal(
                "IMAGE_UNREADABLE",
                f"{label} could not be read as an image (it may be damaged, truncated or not an image at all).",
                "Try exporting it again as JPEG or PNG.",
                advise,
            ) from None
        raise
    return image


def open_image(path: Path, *, name: str) -> Image.Image:
    """The first frame of the image file at `path`, decoded under the rules above; ImageError names `name`."""
    return _decode(path, label=quote(name), advise=True)


def open_result(path: Path) -> Image.Image:
    """A vendor's result file decoded under the same rules as an input; ImageError says "a result file"."""
    return _decode(path, label=RESULT_LABEL, advise=False)


def open_upright(path: Path, name: str) -> tuple[Image.Image, str, bool]:
    """The decoded image turned upright, its format, and whether it had to be turned."""
    image = open_image(path, name=name)
    source_format = image.format or ""
    if image.getexif().get(ExifTags.Base.Orientation, 1) in (None, 1):
        return image, source_format, False
    upright = ImageOps.exif_transpose(image)
    image.close()
    return upright, source_format, True


def load_original(path: Path, *, name: str) -> Image.Image:
    """The image upright, 8-bit sRGB (RGB or RGBA) and full size: what results are restored onto."""
    image, _, _ = open_upright(path, name)
    flat = to_8bit(image)
    if flat is not image:
        image.close()
    return flat


def is_srgb(image: Image.Image) -> bool:
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
    if not icc or is_srgb(image) or image.mode not in ("RGB", "RGBA", "CMYK"):
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


def to_8bit(image: Image.Image) -> Image.Image:
    """An sRGB RGB or RGBA version of any mode Pillow decodes (16-bit, CMYK, palette, …); the image itself
    when it is one already."""
    image = _to_srgb(image)
    if image.mode in _SIXTEEN_BIT_MODES or image.mode == "I":
        gray = image if image.mode == "I" else image.convert("I")
        # A 16-bit sample is out of 65535 however dark the picture; a 32-bit "I" image does not say its
        # range, and one whose values all fit in 8 bits is read as 8-bit.
        sixteen_bit = image.mode != "I" or _highest(gray) > 255
        factor = 255 / 65535 if sixteen_bit else 1
        return gray.point(lambda value: value * factor).convert("L").convert("RGB")
    if image.mode == "F":
        return image.convert("L").convert("RGB")
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    target = "RGBA" if has_alpha else "RGB"
    return image if image.mode == target else image.convert(target)  # no copy of what is ready


def _highest(gray: Image.Image) -> float:
    """The largest value in a one-band image."""
    # Pillow answers (lowest, highest) for one band, one such pair a band for more.
    _, highest = cast("tuple[float, float]", gray.getextrema())
    return highest


def image_size(path: Path) -> tuple[int, int] | None:
    """Width and height of an image file in a decoded format (its header only), or None when it is not one."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path, formats=DECODED_FORMATS) as image:
                return image.size
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        return None
