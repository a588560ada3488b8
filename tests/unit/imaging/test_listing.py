"""Listing photos, checked on pixels: the canvas, the outer band exactly white after JPEG decoding, the
background outside the subject's JPEG blocks exactly the background colour, fill and centring within two
pixels, the byte cap, the options without a preset, the shadow, the enlargement limit, no metadata — and the
compliance check naming the rules an image fails."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageDraw

from bot.domain.listing import PRESETS, ComplianceReport, Layout, Preset, Rule
from bot.imaging.compliance import band_width
from bot.imaging.decode import ImageError, load_original
from bot.imaging.listing import MAX_UPSCALE, QUALITY_FLOOR, ListingImage, check_image, lay_out
from fakes.images import SUBJECT, encode, jpeg_with_gps, metadata_left, noisy_photo, product_photo

BLOCK = 8
# JPEG ringing: in the 8×8 blocks the subject's edge touches, background pixels may come back off-white.
# Measured on the six presets (2400×2400 product photo): 43–60% of those pixels, at most 19 levels below
# 255, all within 16 px of the subject (about 0.5% of the background); every other block is exactly white.
RINGING_SHARE = 0.65  # of the background pixels in the subject's blocks
RINGING_LEVELS = 24  # the most any of them may be below the background colour
WHITE = (255, 255, 255)


def photo(width: int, height: int) -> tuple[Image.Image, Image.Image]:
    """fakes.images.product_photo (a red rounded shape on grey) and its exact alpha."""
    mask = Image.new("L", (width, height), 0)
    ImageDraw.Draw(mask).rounded_rectangle(
        (width * 0.25, height * 0.15, width * 0.75, height * 0.85), radius=min(width, height) // 10, fill=255
    )
    return product_photo(width, height), mask


def pixels(listing: ListingImage) -> np.ndarray:
    with Image.open(io.BytesIO(listing.data)) as image:
        return np.asarray(image.convert("RGBA" if image.mode == "RGBA" else "RGB"))


def band_of(array: np.ndarray) -> np.ndarray:
    height, width = array.shape[:2]
    band = band_width((width, height))
    inner = np.ones((height, width), dtype=bool)
    inner[band : height - band, band : width - band] = False
    return array[inner]


def subject_box(array: np.ndarray) -> tuple[int, int, int, int]:
    """The box of the red subject's pixels (green well below the background's)."""
    red = array[..., 1] < 150
    rows, columns = np.flatnonzero(red.any(axis=1)), np.flatnonzero(red.any(axis=0))
    return int(columns[0]), int(rows[0]), int(columns[-1]) + 1, int(rows[-1]) + 1


def source_box(mask: Image.Image) -> tuple[int, int, int, int]:
    """The subject's box in the original: the mask at 8 or more."""
    return mask.point(lambda v: 255 if v >= 8 else 0).getbbox() or (0, 0, 0, 0)


def expected_box(
    mask: Image.Image, canvas: tuple[int, int], share: float
) -> tuple[float, float, float, float]:
    """Where the subject should be: its longer side (relative to the canvas) at `share`, centred."""
    left, top, right, bottom = source_box(mask)
    scale = min(share * min(canvas[0] / (right - left), canvas[1] / (bottom - top)), MAX_UPSCALE)
    width, height = (right - left) * scale, (bottom - top) * scale
    return (
        (canvas[0] - width) / 2,
        (canvas[1] - height) / 2,
        (canvas[0] + width) / 2,
        (canvas[1] + height) / 2,
    )


def failed(report: ComplianceReport | None) -> set[Rule]:
    assert report is not None
    return {check.rule for check in report.failed}


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- presets --------------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", list(Preset))
def test_preset_result_canvas_band_fill_centring_bytes(preset: Preset) -> None:
    rules = PRESETS[preset]
    original, mask = photo(2400, 2400)  # the subject 1200×1680: no preset needs it enlarged
    listing = lay_out(original, mask, Layout(preset=preset))
    decoded = pixels(listing)

    assert listing.extension == "jpg"
    assert listing.size == rules.canvas == (decoded.shape[1], decoded.shape[0])
    assert (band_of(decoded) == 255).all()  # every band pixel exactly (255, 255, 255) after decoding
    measured = subject_box(decoded)
    wanted = expected_box(mask, rules.canvas, rules.fill)
    assert max(abs(m - w) for m, w in zip(measured, wanted, strict=True)) <= 2
    height = measured[3] - measured[1]
    assert abs(height - rules.fill * rules.canvas[1]) <= 2  # the longer side (the height) fills the share
    assert abs((measured[0] + measured[2]) / 2 - rules.canvas[0] / 2) <= 2
    assert abs((measured[1] + measured[3]) / 2 - rules.canvas[1] / 2) <= 2
    assert len(listing.data) <= rules.max_bytes
    assert listing.report is not None and listing.report.preset is preset
    assert listing.report.passed, listing.report.failed
    assert [check.rule for check in listing.report.checks] == [
        Rule.BACKGROUND, Rule.FILL, Rule.CENTRING, Rule.SIZE, Rule.FORMAT, Rule.BYTES, Rule.TRANSPARENCY,
    ]  # fmt: skip
    assert listing.notes == ()


@pytest.mark.parametrize("preset", list(Preset))
def test_background_is_exact_outside_the_subjects_blocks(preset: Preset) -> None:
    """Outside the 8×8 blocks the subject touches, every background pixel is exactly white; inside them,
    JPEG ringing leaves at most RINGING_SHARE of the background pixels off-white, by RINGING_LEVELS at most."""
    original, mask = photo(2400, 2400)
    layout = Layout(preset=preset)
    decoded = pixels(lay_out(original, mask, layout))
    # The same layout as a transparent PNG carries the placed alpha exactly.
    alpha = pixels(lay_out(original, mask, dataclasses.replace(layout, transparent=True)))[..., 3]
    height, width = alpha.shape
    rows, columns = -(-height // BLOCK), -(-width // BLOCK)  # 1500 = 187 blocks and a half
    covered = np.zeros((rows * BLOCK, columns * BLOCK), dtype=bool)
    covered[:height, :width] = alpha > 0
    blocks = covered.reshape(rows, BLOCK, columns, BLOCK).any(axis=(1, 3))
    touched = blocks.repeat(BLOCK, axis=0).repeat(BLOCK, axis=1)[:height, :width]
    background = alpha == 0
    white = (decoded == 255).all(axis=2)
    assert white[background & ~touched].all()
    near = background & touched
    off_white = float(np.count_nonzero(near & ~white)) / np.count_nonzero(near)
    levels = int(255 - decoded[near].min())
    print(
        f"{preset}: {off_white:.3f} of the background pixels in the subject's blocks are not 255, {levels} at most"
    )
    assert off_white <= RINGING_SHARE
    assert levels <= RINGING_LEVELS


def test_quality_steps_down_to_fit_the_cap() -> None:
    noise = noisy_photo(1925, 1925)  # Walmart's 87.5% of 2200 at 1:1: the noise reaches the file
    listing = lay_out(noise, Image.new("L", noise.size, 255), Layout(preset=Preset.WALMART))
    cap = PRESETS[Preset.WALMART].max_bytes
    assert len(listing.data) <= cap
    assert listing.report is not None and listing.report.passed
    assert len(listing.notes) == 1 and "JPEG quality lowered to" in listing.notes[0]
    assert (band_of(pixels(listing)) == 255).all()


def test_a_file_over_the_cap_at_the_floor_says_so() -> None:
    noise = noisy_photo(2650, 2650)
    layout = Layout(preset=Preset.WALMART, size=(3000, 3000))
    listing = lay_out(noise, Image.new("L", noise.size, 255), layout)
    assert len(listing.data) > PRESETS[Preset.WALMART].max_bytes
    assert failed(listing.report) == {Rule.BYTES}
    assert len(listing.notes) == 1
    assert f"even at JPEG quality {QUALITY_FLOOR}" in listing.notes[0] and "5 MB" in listing.notes[0]


# --- options without a preset -----------------------------------------------------------------------


@pytest.mark.parametrize(("layout", "share"), [(Layout(fill=0.8), 0.8), (Layout(margin=0.05), 0.9)])
def test_fill_and_margin(layout: Layout, share: float) -> None:
    original, mask = photo(1600, 1200)
    listing = lay_out(original, mask, dataclasses.replace(layout, size=(1000, 1000)))
    measured = subject_box(pixels(listing))
    assert abs((measured[3] - measured[1]) - share * 1000) <= 2
    assert (
        max(abs(m - w) for m, w in zip(measured, expected_box(mask, (1000, 1000), share), strict=True)) <= 2
    )
    assert listing.report is None


@pytest.mark.parametrize("size", [(1200, 1200), (1600, 900)])
def test_size_square_and_width_by_height(size: tuple[int, int]) -> None:
    original, mask = photo(1600, 1200)
    listing = lay_out(original, mask, Layout(size=size))
    decoded = pixels(listing)
    assert listing.size == size == (decoded.shape[1], decoded.shape[0])
    assert (band_of(decoded) == 255).all()
    measured = subject_box(decoded)
    assert max(abs(m - w) for m, w in zip(measured, expected_box(mask, size, 0.9), strict=True)) <= 2


def test_without_a_size_the_canvas_is_the_subject_with_a_margin() -> None:
    original, mask = photo(1600, 1200)
    left, top, right, bottom = source_box(mask)
    listing = lay_out(original, mask, Layout(fill=0.8))
    assert listing.size == (round((right - left) / 0.8), round((bottom - top) / 0.8))
    measured = subject_box(pixels(listing))
    assert abs((measured[2] - measured[0]) - (right - left)) <= 2  # not scaled
    assert abs((measured[3] - measured[1]) - (bottom - top)) <= 2


def test_background_colour_is_exact() -> None:
    original, mask = photo(1600, 1200)
    layout = Layout(background=(0xF5, 0xF5, 0xF5), size=(1000, 1000))
    decoded = pixels(lay_out(original, mask, layout))
    assert (band_of(decoded) == 0xF5).all()
    assert (decoded[:48] == 0xF5).all()  # above the subject (from row 50), whole blocks of background


def test_a_coloured_background_is_within_two_levels() -> None:
    """JPEG stores colour as YCbCr in whole numbers, so a colour that is not a grey comes back within a
    level or two (a grey such as #F5F5F5, and white, come back exactly)."""
    original, mask = photo(1600, 1200)
    decoded = pixels(lay_out(original, mask, Layout(background=(0x33, 0x66, 0x99), size=(1000, 1000))))
    assert np.abs(band_of(decoded).astype(int) - (0x33, 0x66, 0x99)).max() <= 2


def test_transparent_background_is_a_png_with_alpha() -> None:
    original, mask = photo(1600, 1200)
    listing = lay_out(original, mask, Layout(transparent=True, size=(1000, 1000)))
    decoded = pixels(listing)
    assert listing.extension == "png" and decoded.shape == (1000, 1000, 4)
    assert (band_of(decoded)[:, 3] == 0).all()
    assert (decoded[500, 500] == (*SUBJECT, 255)).all()  # the middle of the subject, opaque and unchanged
    alpha = decoded[..., 3]
    assert np.count_nonzero((alpha > 0) & (alpha < 255)) > 0  # soft edges kept


def test_an_rgba_original_keeps_its_own_transparency() -> None:
    original, mask = photo(1600, 1200)
    rgba = original.convert("RGBA")
    rgba.putalpha(Image.new("L", (800, 1200), 255).crop((0, 0, 1600, 1200)))  # the right half see-through
    left, top, right, bottom = subject_box(pixels(lay_out(rgba, mask, Layout(size=(1000, 1000)))))
    assert right - left < 0.55 * (bottom - top)  # only the left half of the subject (400×840) is laid out


def test_an_empty_cut_out_is_refused() -> None:
    original, _ = photo(800, 600)
    with pytest.raises(ImageError) as raised:
        lay_out(original, Image.new("L", original.size, 3), Layout(preset=Preset.AMAZON))  # faint noise only
    assert raised.value.code == "NO_SUBJECT"


# --- shadow, enlargement, metadata -----------------------------------------------------------------------


def test_shadow_under_the_subject_and_the_band_still_white() -> None:
    original, mask = photo(2400, 2400)
    plain = pixels(lay_out(original, mask, Layout(preset=Preset.AMAZON)))
    listing = lay_out(original, mask, Layout(preset=Preset.AMAZON, shadow=True))
    shaded = pixels(listing)
    left, _, right, bottom = subject_box(shaded)
    below = shaded[bottom + 2 : bottom + 12, (left + right) // 2]
    assert (below < 245).all()  # darker just under the subject's middle
    assert (plain[bottom + 2 : bottom + 12, (left + right) // 2] == 255).all()  # off by default
    assert (band_of(shaded) == 255).all()
    assert listing.report is not None and listing.report.passed


def test_a_small_source_is_enlarged_only_to_the_limit() -> None:
    original, mask = photo(640, 480)  # the subject 321×337: 90% of 2000 would take 5.3×
    listing = lay_out(original, mask, Layout(preset=Preset.AMAZON))
    left, top, right, bottom = source_box(mask)
    measured = subject_box(pixels(listing))
    assert abs((measured[3] - measured[1]) - MAX_UPSCALE * (bottom - top)) <= 2
    needed = f"{0.9 * 2000 / (bottom - top):.1f}×"
    assert failed(listing.report) == {Rule.FILL, Rule.RESOLUTION}
    assert listing.report is not None
    resolution = next(c for c in listing.report.checks if c.rule is Rule.RESOLUTION)
    assert f"{right - left}×{bottom - top} px" in resolution.measured and needed in resolution.measured
    assert len(listing.notes) == 1 and "too small" in listing.notes[0] and needed in listing.notes[0]


def test_no_metadata_in_the_result(tmp_path: Path) -> None:
    original = load_original(write(tmp_path, "phone.jpg", jpeg_with_gps(1600, 1200)), name="phone.jpg")
    assert original.info.get("icc_profile") and original.info.get("exif")  # what the phone wrote
    _, mask = photo(1600, 1200)
    for layout in (Layout(preset=Preset.AMAZON), Layout(transparent=True)):
        listing = lay_out(original, mask, layout)
        assert metadata_left(listing.data) == {}
        with Image.open(io.BytesIO(listing.data)) as image:
            assert "icc_profile" not in image.info


# --- check_image ------------------------------------------------------------------------------------------


def drawn(
    size: tuple[int, int],
    *,
    fill: float,
    background: tuple[int, ...] = WHITE,
    centre: tuple[float, float] = (0.5, 0.5),
) -> Image.Image:
    """A red ellipse whose longer side fills `fill` of the canvas, on `background`."""
    image = Image.new("RGBA" if len(background) == 4 else "RGB", size, background)
    radius = fill * min(size) / 2
    x, y = centre[0] * size[0], centre[1] * size[1]
    ImageDraw.Draw(image).ellipse((x - radius, y - radius, x + radius, y + radius), fill=SUBJECT)
    return image


def check(
    tmp_path: Path, image: Image.Image, preset: Preset, fmt: str = "JPEG", **params: object
) -> set[Rule]:
    extension = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}[fmt]
    quality = {} if fmt == "PNG" else {"quality": 95}
    path = write(tmp_path, f"listing.{extension}", encode(image, fmt, **(quality | params)))
    return failed(check_image(path, preset))


def test_check_passes_a_good_image(tmp_path: Path) -> None:
    original, mask = photo(2400, 2400)
    path = write(tmp_path, "good.jpg", lay_out(original, mask, Layout(preset=Preset.AMAZON)).data)
    report = check_image(path, Preset.AMAZON)
    assert report.passed, report.failed
    assert report.checks[0].measured == "100% of the edge is pure white"
    assert report.checks[1].measured in {
        f"fills {share} of the height" for share in ("89.9%", "90%", "90.1%")
    }


def test_check_a_grey_background(tmp_path: Path) -> None:
    path = write(
        tmp_path, "grey.jpg", encode(drawn((2000, 2000), fill=0.9, background=(230, 230, 230)), quality=95)
    )
    report = check_image(path, Preset.AMAZON)
    assert failed(report) == {Rule.BACKGROUND}  # the subject is still found on grey: it fills 90%
    assert report.checks[0].measured == "0% of the edge is pure white (100% is not)"


def test_check_says_how_much_of_the_edge_is_not_white(tmp_path: Path) -> None:
    image = drawn((2000, 2000), fill=0.9)
    ImageDraw.Draw(image).rectangle(
        (0, 1960, 1999, 1999), fill=(245, 245, 245)
    )  # light grey along the bottom
    report = check_image(write(tmp_path, "strip.png", encode(image, "PNG")), Preset.SHOPIFY)
    assert failed(report) == {Rule.BACKGROUND}
    assert report.checks[0].measured == "74.4% of the edge is white (25.6% is not)"  # 80,000 of 313,600


@pytest.mark.parametrize(
    ("fill", "preset", "rules"),
    [
        (0.5, Preset.AMAZON, {Rule.FILL}),  # too small
        (0.94, Preset.GOOGLE, {Rule.FILL}),  # too large for Google (75–90%), still clear of the band
        (0.985, Preset.AMAZON, {Rule.FILL, Rule.BACKGROUND}),  # so large it reaches the edge band
    ],
)
def test_check_subject_too_small_or_too_large(
    tmp_path: Path, fill: float, preset: Preset, rules: set[Rule]
) -> None:
    assert check(tmp_path, drawn(PRESETS[preset].canvas, fill=fill), preset) == rules


def test_check_off_centre(tmp_path: Path) -> None:
    report_rules = check(tmp_path, drawn((2000, 2000), fill=0.85, centre=(0.45, 0.5)), Preset.EBAY)
    assert report_rules == {Rule.CENTRING}


def test_check_a_canvas_too_small(tmp_path: Path) -> None:
    assert check(tmp_path, drawn((800, 800), fill=0.9), Preset.AMAZON) == {Rule.SIZE}


def test_check_a_png_with_transparency(tmp_path: Path) -> None:
    image = drawn((2000, 2000), fill=0.9, background=(0, 0, 0, 0))
    report = check_image(write(tmp_path, "cutout.png", encode(image, "PNG")), Preset.AMAZON)
    assert failed(report) == {Rule.BACKGROUND, Rule.TRANSPARENCY}
    transparency = next(c for c in report.checks if c.rule is Rule.TRANSPARENCY)
    assert transparency.measured.endswith("of the pixels are see-through")
    assert next(c for c in report.checks if c.rule is Rule.FILL).passed  # measured on the opaque pixels


def test_check_a_cmyk_jpeg(tmp_path: Path) -> None:
    report = check_image(
        write(tmp_path, "print.jpg", encode(drawn((2000, 2000), fill=0.9).convert("CMYK"), quality=95)),
        Preset.AMAZON,
    )
    assert failed(report) == {Rule.FORMAT}
    assert next(c for c in report.checks if c.rule is Rule.FORMAT).measured == "JPEG, CMYK"


def test_check_over_the_byte_cap(tmp_path: Path) -> None:
    image = drawn((2200, 2200), fill=0.875)
    noise = noisy_photo(1700, 1700)
    image.paste(noise, (250, 250))
    report = check_image(write(tmp_path, "heavy.jpg", encode(image, quality=100)), Preset.WALMART)
    assert failed(report) == {Rule.BYTES}
    bytes_check = next(c for c in report.checks if c.rule is Rule.BYTES)
    assert bytes_check.measured.endswith(" MB") and bytes_check.expected == "at most 5 MB"


@pytest.mark.parametrize(
    ("image", "fmt", "measured"),
    [
        (drawn((1600, 1600), fill=0.85).convert("L"), "PNG", "PNG, greyscale"),
        (drawn((1600, 1600), fill=0.85), "WEBP", "WEBP, sRGB"),
    ],
)
def test_check_format_and_colour_space(tmp_path: Path, image: Image.Image, fmt: str, measured: str) -> None:
    path = write(tmp_path, f"x.{fmt.lower()}", encode(image, fmt))
    report = check_image(path, Preset.EBAY)
    assert failed(report) == {Rule.FORMAT}
    assert next(c for c in report.checks if c.rule is Rule.FORMAT).measured == measured


def test_check_an_srgb_profile_passes_and_odd_modes_do_not_crash(tmp_path: Path) -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    assert check(tmp_path, drawn((1600, 1600), fill=0.85), Preset.EBAY, icc_profile=srgb) == set()
    palette = drawn((1600, 1600), fill=0.85).convert("P", palette=Image.Palette.ADAPTIVE)
    assert check(tmp_path, palette, Preset.EBAY, "PNG") == set()
    sixteen = Image.fromarray(np.full((600, 600), 65535, dtype=np.uint16))  # 16-bit greyscale, all white
    report = check_image(write(tmp_path, "deep.png", encode(sixteen, "PNG")), Preset.EBAY)
    assert {Rule.FILL, Rule.CENTRING, Rule.FORMAT} <= failed(report)
    assert next(c for c in report.checks if c.rule is Rule.FILL).measured.startswith("no subject found")


@pytest.mark.parametrize("data", [b"", b"not an image at all", encode(drawn((64, 64), fill=0.5))[:200]])
def test_check_a_file_that_does_not_decode(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(ImageError):
        check_image(write(tmp_path, "broken.jpg", data), Preset.AMAZON)
