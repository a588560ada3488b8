"""Only the documented formats are decoded (inputs, vendor results, the local engine's input), anything
else is refused naming what it is; vendor results pass the input's guards and a cap on how many there
are; and no result carries the original's EXIF, GPS, XMP or comment."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import EpsImagePlugin, ExifTags, Image, PngImagePlugin

from bot.domain.failures import VendorRejected
from bot.domain.grammar import Output, Spec, parse_spec
from bot.domain.text import mrkdwn
from bot.engines.base import MAIN_ROLE, PARTS_ROLE, CutProgress, ImageInput, ResultPart
from bot.engines.local.engine import LocalEngine
from bot.engines.vendors.limits import MAX_PARTS_ZIP_ENTRIES, MAX_RESULT_PARTS
from bot.imaging.compose import clean_result
from bot.imaging.decode import DECODED_FORMATS, MAX_PIXELS, ImageError, open_image, sniff
from bot.imaging.prepare import ImageLimits, PreparedImage, prepare_image
from bot.imaging.threads import ImageWork
from bot.tasks import pipeline
from bot.tasks.pipeline import CutOutcome
from fakes.images import (
    PRIVATE_XMP,
    encode,
    eps_bytes,
    jpeg_with_gps,
    metadata_left,
    private_exif,
    product_photo,
    psd_bytes,
)

Image.init()  # every plugin Pillow has, so that the skip conditions below see them

TAKEN = "the bot takes JPEG, PNG, WEBP, GIF, TIFF, BMP and HEIC images"
ANY_SIZE = ImageLimits("Test", frozenset({"JPEG", "PNG"}), max_bytes=50_000_000, max_side=5000, min_side=1)


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def subject_mask(width: int, height: int) -> Image.Image:
    """The product photo's subject as a mask, as a vendor would send it."""
    return product_photo(width, height).convert("L").point(lambda v: 255 if v < 150 else 0)


def png_with_metadata(image: Image.Image) -> bytes:
    """A PNG carrying EXIF (with GPS), XMP and a text comment, as a careless vendor might send back."""
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "shot at home")
    text.add_itxt("XML:com.adobe.xmp", PRIVATE_XMP.decode())
    return encode(image, "PNG", pnginfo=text, exif=private_exif())


class StubVendor:
    """A vendor that answers with the given result files."""

    name = "StubVendor"
    accepts_urls = False

    def __init__(self, results: list[ResultPart], *, max_side: int = 5000) -> None:
        self.results = results
        self.max_side = max_side
        self.asked: list[Spec] = []

    def limits(self, spec: Spec) -> ImageLimits:
        return ImageLimits("StubVendor", frozenset({"JPEG", "PNG"}), 50_000_000, self.max_side, 1)

    def alpha_output(self, spec: Spec) -> Output | None:
        return Output.MASK

    async def cut(self, image: ImageInput, spec: Spec, progress: CutProgress) -> list[ResultPart]:
        self.asked.append(spec)
        return self.results

    async def resume(self, vendor_task_id: str, spec: Spec, progress: CutProgress) -> list[ResultPart]:
        raise NotImplementedError

    async def fetch(self, url: str, dest: Path) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


async def cut(source: Path, words: str, engine: object, out_dir: Path) -> CutOutcome:
    work = ImageWork()
    try:
        return await pipeline.cut_file(source, parse_spec(words), engine, work, out_dir)  # type: ignore[arg-type]
    finally:
        work.close()


# ---- documented formats are decoded ------------------------------------------------------------------


def _heif_can_be_written() -> bool:
    return "HEIF" in Image.SAVE


@pytest.mark.parametrize(
    ("fmt", "name", "params"),
    [
        ("JPEG", "a.jpg", {}),
        ("PNG", "a.png", {}),
        ("WEBP", "a.webp", {}),
        ("GIF", "a.gif", {}),
        ("TIFF", "a.tif", {}),
        ("BMP", "a.bmp", {}),
        pytest.param(
            "HEIF",
            "a.heic",
            {},
            marks=pytest.mark.skipif(not _heif_can_be_written(), reason="pillow-heif cannot write HEIC here"),
        ),
    ],
)
def test_every_documented_format_is_decoded(tmp_path: Path, fmt: str, name: str, params: dict) -> None:
    image = product_photo(120, 90)
    path = write(tmp_path, name, encode(image.convert("P") if fmt == "GIF" else image, fmt, **params))
    with open_image(path, name=name) as opened:
        assert (opened.format, opened.size) == (fmt, (120, 90))
        assert opened.convert("RGB").getpixel((60, 45))[0] > 150  # the red subject
    prepared = prepare_image(path, ANY_SIZE, name=name, out=tmp_path / "prepared")
    assert prepared.size == (120, 90)
    kind = sniff(path.read_bytes()[:512])
    assert kind is not None and kind.decoded


def test_eps_is_refused_by_name_and_ghostscript_is_never_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[object] = []
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *a, **k: started.append(a))
    for name in ("x.eps", "x.png"):  # named as what it is, and as what it is not
        with pytest.raises(ImageError) as caught:
            prepare_image(write(tmp_path, name, eps_bytes()), ANY_SIZE, name=name, out=tmp_path / "p")
        assert caught.value.code == "IMAGE_FORMAT_NOT_TAKEN"
        assert caught.value.message == (
            f"‘{name}’ is an EPS file; {TAKEN}. Export it as JPEG or PNG and try again."
        )
    assert started == []


def _pillow_writes(fmt: str, image: Image.Image | None = None) -> Callable[[], bytes]:
    return lambda: encode(image or product_photo(64, 48), fmt)


@pytest.mark.parametrize(
    ("name", "make", "words"),
    [
        ("a.psd", psd_bytes, "is a Photoshop (PSD) file"),
        ("a.ico", _pillow_writes("ICO"), "is an ICO file"),
        ("a.pcx", _pillow_writes("PCX"), "is a PCX file"),
        ("a.tga", _pillow_writes("TGA"), "is a TGA file"),
        ("a.ppm", _pillow_writes("PPM"), "is a PPM file"),
        ("a.sgi", _pillow_writes("SGI"), "is an SGI file"),
        ("a.qoi", _pillow_writes("QOI"), "is a QOI file"),
        pytest.param(
            "a.jp2",
            _pillow_writes("JPEG2000"),
            "is a JPEG 2000 file",
            marks=pytest.mark.skipif("JPEG2000" not in Image.SAVE, reason="no OpenJPEG in this Pillow"),
        ),
        pytest.param(
            "a.avif",
            _pillow_writes("AVIF"),
            "is an AVIF file",
            marks=pytest.mark.skipif("AVIF" not in Image.SAVE, reason="no libavif in this Pillow"),
        ),
    ],
)
def test_formats_pillow_decodes_but_the_bot_does_not_are_refused_by_name(
    tmp_path: Path, name: str, make: Callable[[], bytes], words: str
) -> None:
    data = make()
    with Image.open(io.BytesIO(data)) as unrestricted:  # Pillow alone would have decoded it
        unrestricted.load()
        assert unrestricted.format not in DECODED_FORMATS
    with pytest.raises(ImageError) as caught:
        prepare_image(write(tmp_path, name, data), ANY_SIZE, name=name, out=tmp_path / "p")
    assert caught.value.code == "IMAGE_FORMAT_NOT_TAKEN"
    assert caught.value.message.startswith(f"‘{name}’ {words}; {TAKEN}.")


def test_a_refused_files_name_is_quoted_plainly_and_escaped_in_slack(tmp_path: Path) -> None:
    with pytest.raises(ImageError) as caught:
        open_image(write(tmp_path, "x.eps", eps_bytes()), name="<!channel> ‘x’.eps")
    assert caught.value.message.startswith("‘<!channel> 'x'.eps’ is an EPS file")
    assert mrkdwn(caught.value.message).startswith("`&lt;!channel&gt; 'x'.eps` is an EPS file")


def test_the_local_engine_decodes_only_documented_formats(tmp_path: Path) -> None:
    path = write(tmp_path, "p.pcx", encode(product_photo(64, 48), "PCX"))
    image = PreparedImage(path, path.stat().st_size, "p.pcx", "image/png", (64, 48), (64, 48))
    with pytest.raises(ImageError) as caught:
        LocalEngine()._cut(image, parse_spec("product"))
    assert caught.value.code == "IMAGE_FORMAT_NOT_TAKEN"
    assert "‘p.pcx’ is a PCX file" in caught.value.message


# ---- vendor results pass the same guards ----------------------------------------------------------------


@pytest.fixture(scope="module")
def bomb_png() -> bytes:
    side = int(MAX_PIXELS**0.5) + 100
    return encode(Image.new("1", (side, side)), "PNG")


@pytest.mark.parametrize("words", ["apparel white", "apparel"])
async def test_a_vendor_result_over_max_pixels_is_refused(
    tmp_path: Path, bomb_png: bytes, words: str
) -> None:
    side = int(MAX_PIXELS**0.5) + 100
    source = write(tmp_path, "a.jpg", encode(product_photo(800, 600), "JPEG"))
    # 800 px a side at most: the result is restored from a mask (opened); else it is kept as sent (cleaned)
    for max_side in (5000, 400):
        engine = StubVendor([ResultPart(MAIN_ROLE, content=bomb_png)], max_side=max_side)
        with pytest.raises(VendorRejected) as caught:
            await cut(source, words, engine, tmp_path / f"out-{max_side}")
        assert caught.value.code == "RESULT_TOO_MANY_PIXELS"
        assert f"a result file is {side}×{side} pixels" in caught.value.user_text()
        assert not list((tmp_path / f"out-{max_side}").glob(".result-*"))  # the refused file is gone


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (eps_bytes(), "a result file is an EPS file"),
        (encode(product_photo(64, 48), "PCX"), "a result file is a PCX file"),
        (psd_bytes(), "a result file is a Photoshop (PSD) file"),
        (b"<html>expired</html>", "a result file is a web page"),
    ],
)
async def test_a_vendor_result_in_an_undocumented_format_is_refused(
    tmp_path: Path, data: bytes, words: str
) -> None:
    source = write(tmp_path, "a.jpg", encode(product_photo(300, 200), "JPEG"))
    with pytest.raises(VendorRejected) as caught:
        await cut(source, "apparel", StubVendor([ResultPart(MAIN_ROLE, content=data)]), tmp_path / "out")
    assert caught.value.code in ("RESULT_FORMAT_NOT_TAKEN", "RESULT_NOT_AN_IMAGE")
    assert words in caught.value.user_text()


async def test_an_answer_with_more_result_files_than_the_cap_is_refused(tmp_path: Path) -> None:
    source = write(tmp_path, "a.jpg", encode(product_photo(300, 200), "JPEG"))
    mask = encode(subject_mask(300, 200), "PNG")
    parts = [ResultPart(f"class{n}", content=mask) for n in range(MAX_RESULT_PARTS + 1)]
    with pytest.raises(VendorRejected) as caught:
        await cut(source, "segment", StubVendor(parts), tmp_path / "out")
    assert caught.value.code == "TOO_MANY_RESULTS"
    assert f"StubVendor sent {MAX_RESULT_PARTS + 1} result files; the bot takes at most 32" in (
        caught.value.user_text()
    )
    assert not (tmp_path / "out" / ".result-0").exists()  # refused before anything was kept


def _zip_of(entries: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for n in range(entries):
            archive.writestr(f"tops/{n}.png", b"x")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("zip_data", "code"),
    [
        (_zip_of(MAX_PARTS_ZIP_ENTRIES + 1), "TOO_MANY_PARTS"),
        (b"PK\x03\x04 but not a zip at all", "RESULT_NOT_A_ZIP"),
        (encode(product_photo(64, 48), "PNG"), "RESULT_NOT_A_ZIP"),
        (_zip_of(3), None),
    ],
)
async def test_the_parts_zip_is_checked(tmp_path: Path, zip_data: bytes, code: str | None) -> None:
    source = write(tmp_path, "a.jpg", encode(product_photo(300, 200), "JPEG"))
    parts = [
        ResultPart("tops", content=encode(subject_mask(300, 200), "PNG")),
        ResultPart(PARTS_ROLE, content=zip_data),
    ]
    if code is None:
        outcome = await cut(source, "segment parts", StubVendor(parts), tmp_path / "out")
        assert sorted(f.name for f in outcome.files) == ["a-mask-tops.png", "a-segment-parts.zip"]
        return
    with pytest.raises(VendorRejected) as caught:
        await cut(source, "segment parts", StubVendor(parts), tmp_path / "out")
    assert caught.value.code == code


# ---- no result carries the original's metadata ----------------------------------------------------------


@pytest.mark.parametrize("size", [(640, 480), (1400, 1000)])  # as it is, and restored from a smaller copy
@pytest.mark.parametrize(
    "words", ["product", "product white", "apparel mask", "portrait crop", "product 300x300 white"]
)
async def test_local_engine_results_carry_no_metadata_of_the_original(
    tmp_path: Path, words: str, size: tuple[int, int]
) -> None:
    source = write(tmp_path, "phone.jpg", jpeg_with_gps(*size))
    assert metadata_left(source.read_bytes())  # the input does carry it
    outcome = await cut(source, words, LocalEngine(), tmp_path / "out")
    assert outcome.files
    for result in outcome.files:
        data = Path(result.path).read_bytes()
        assert metadata_left(data) == {}, result.name  # an ICC profile may stay: it says nothing private


async def test_vendor_results_kept_as_sent_are_cleared_of_metadata(tmp_path: Path) -> None:
    source = write(tmp_path, "phone.jpg", jpeg_with_gps(400, 300))
    white = product_photo(400, 300)
    vendor_jpeg = encode(white, "JPEG", quality=90, exif=private_exif(), xmp=PRIVATE_XMP, comment=b"home")
    vendor_png = png_with_metadata(subject_mask(400, 300))
    engine = StubVendor([ResultPart(MAIN_ROLE, content=vendor_jpeg), ResultPart("tops", content=vendor_png)])
    outcome = await cut(source, "apparel white tops", engine, tmp_path / "out")
    assert sorted(f.name for f in outcome.files) == ["phone-apparel-white.jpg", "phone-white-tops.png"]
    for result in outcome.files:
        data = Path(result.path).read_bytes()
        assert metadata_left(data) == {}, result.name
    with Image.open(tmp_path / "out" / "phone-apparel-white.jpg") as kept:
        assert kept.size == (400, 300)
        assert abs(kept.getpixel((200, 150))[0] - white.getpixel((200, 150))[0]) < 8  # same picture
    with Image.open(tmp_path / "out" / "phone-white-tops.png") as kept_mask:
        assert kept_mask.tobytes() == subject_mask(400, 300).tobytes()  # PNG: not a pixel changed


async def test_restored_and_segment_results_carry_no_metadata(tmp_path: Path) -> None:
    source = write(tmp_path, "phone.jpg", jpeg_with_gps(1200, 900))
    mask_with_metadata = png_with_metadata(subject_mask(600, 450))
    for words in ("apparel", "apparel white", "portrait crop", "apparel mask", "segment cutouts"):
        engine = StubVendor([ResultPart(MAIN_ROLE, content=mask_with_metadata)], max_side=600)
        out = tmp_path / words.replace(" ", "-")
        outcome = await cut(source, words, engine, out)
        assert engine.asked[0].output is Output.MASK or words.startswith("segment")
        for result in outcome.files:
            data = Path(result.path).read_bytes()
            assert metadata_left(data) == {}, result.name
            with Image.open(io.BytesIO(data)) as image:
                assert max(image.size) > 600 or "crop" in words  # restored to the original's size


def test_a_clean_vendor_result_is_kept_byte_for_byte(tmp_path: Path) -> None:
    data = encode(product_photo(200, 100), "PNG")
    path = write(tmp_path, "r", data)
    assert clean_result(path) == "png"
    assert path.read_bytes() == data


def test_a_vendor_result_turned_by_its_exif_is_kept_upright_without_it(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.IFD.GPSInfo] = {1: "N", 2: (51.0, 30.0, 12.5)}
    path = write(tmp_path, "r", encode(product_photo(300, 200), "JPEG", exif=exif.tobytes()))
    assert clean_result(path) == "jpg"
    assert metadata_left(path.read_bytes()) == {}
    with Image.open(path) as upright:
        assert upright.size == (200, 300)


def test_a_tiff_result_becomes_a_png_without_metadata(tmp_path: Path) -> None:
    path = write(tmp_path, "r", encode(product_photo(120, 80), "TIFF", exif=private_exif()))
    assert clean_result(path) == "png"
    with Image.open(path) as image:
        assert (image.format, image.size) == ("PNG", (120, 80))
    assert metadata_left(path.read_bytes()) == {}


@pytest.mark.parametrize(
    ("head", "name", "decoded"),
    [
        (b"\x00\x00\x00\x1cftypheic\x00\x00\x00\x00mif1heicmiaf", "HEIC", True),
        (b"\x00\x00\x01\x00ftypmif1\x00\x00\x00\x00mif1heic", "HEIC", True),  # a box of 256 bytes, not an ICO
        (b"\x00\x00\x00 ftypavif\x00\x00\x00\x00avifmif1miafMA1B", "AVIF", False),
        (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avifmiaf", "AVIF", False),
        (b"%!PS-Adobe-3.0\n%%Pages: 1\n", "PostScript", False),
        (b"\x00\x00\x01\x00\x01\x00\x10\x10", "ICO", False),
    ],
)
def test_sniff_reads_the_first_bytes(head: bytes, name: str, decoded: bool) -> None:
    kind = sniff(head)
    assert kind is not None and (kind.name, kind.decoded) == (name, decoded)
    assert sniff(b"\x00\x00\x00\x18ftypisom\x00\x00\x00\x00isommp42") is None  # a video: nothing we know
