"""Image preparation on real files: fixed when it can be, refused with the sizes when it cannot."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageCms

from bot.domain.grammar import Output
from bot.engines.vendors.limits import AIDGE_CUTOUT, AILAB_APPAREL, AILAB_PORTRAIT
from bot.imaging.compose import compose, fit_mask, has_subject, mask_of
from bot.imaging.decode import MAX_PIXELS, ImageError, load_original
from bot.imaging.prepare import ImageLimits, prepare_image
from fakes.images import encode, noisy_photo, product_photo


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_acceptable_jpeg_is_sent_as_it_is(tmp_path: Path) -> None:
    data = encode(product_photo(800, 600), "JPEG", quality=90)
    prepared = prepare_image(
        write(tmp_path, "shirt.jpg", data), AILAB_APPAREL, name="shirt.jpg", out=tmp_path / "prepared"
    )
    assert prepared.read() == data
    assert (prepared.filename, prepared.mimetype, prepared.size) == ("shirt.jpg", "image/jpeg", (800, 600))
    assert not prepared.downscaled
    assert prepared.path == tmp_path / "shirt.jpg"  # the file itself: no copy made
    assert not (tmp_path / "prepared").exists()


def test_large_jpeg_is_downscaled_under_the_side_limit_keeping_aspect(tmp_path: Path) -> None:
    path = write(tmp_path, "big.jpg", encode(product_photo(4200, 3200), "JPEG", quality=90))
    prepared = prepare_image(path, AILAB_APPAREL, name="big.jpg", out=tmp_path / "prepared")
    image = decoded(prepared.read())
    assert image.size == prepared.size
    assert max(image.size) <= AILAB_APPAREL.max_side
    assert abs(image.size[0] / image.size[1] - 4200 / 3200) < 0.01
    assert prepared.original_size == (4200, 3200)
    assert prepared.downscaled
    assert len(prepared.read()) <= AILAB_APPAREL.max_bytes


def test_exif_rotated_phone_photo_is_turned_upright(tmp_path: Path) -> None:
    sideways = product_photo(600, 400)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    path = write(tmp_path, "phone.jpg", encode(sideways, "JPEG", exif=exif.tobytes()))
    prepared = prepare_image(path, AILAB_APPAREL, name="phone.jpg", out=tmp_path / "prepared")
    assert prepared.size == (400, 600)
    assert decoded(prepared.read()).size == (400, 600)
    assert prepared.original_size == (400, 600)


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    path = write(tmp_path, "print.jpg", encode(product_photo(300, 300, mode="CMYK"), "JPEG"))
    prepared = prepare_image(path, AILAB_APPAREL, name="print.jpg", out=tmp_path / "prepared")
    assert decoded(prepared.read()).mode == "RGB"
    assert prepared.mimetype == "image/jpeg"


def test_16_bit_png_becomes_8_bit_with_its_tones(tmp_path: Path) -> None:
    pixels = bytearray(200 * 200 * 2)
    for y in range(50, 150):
        for x in range(50, 150):
            pixels[(y * 200 + x) * 2 : (y * 200 + x) * 2 + 2] = (40000).to_bytes(2, "little")
    gray16 = Image.frombytes("I;16", (200, 200), bytes(pixels))
    assert gray16.getpixel((100, 100)) == 40000
    path = write(tmp_path, "scan.png", encode(gray16, "PNG"))
    prepared = prepare_image(path, AILAB_PORTRAIT, name="scan.png", out=tmp_path / "prepared")
    image = decoded(prepared.read())
    assert image.mode in ("RGB", "L")
    center = image.convert("L").getpixel((100, 100))
    corner = image.convert("L").getpixel((5, 5))
    assert 140 <= center <= 170  # 40000 / 65535 × 255 ≈ 156, not clipped to white
    assert corner == 0


def test_dark_16_bit_png_stays_dark(tmp_path: Path) -> None:
    # Every sample at most 255 of 65535: a nearly black scan, not 8-bit values to stretch 257 times.
    gray16 = Image.new("I;16", (64, 64), 0)
    gray16.paste(Image.new("I;16", (32, 32), 255), (16, 16))
    assert gray16.getpixel((32, 32)) == 255
    original = load_original(write(tmp_path, "night.png", encode(gray16, "PNG")), name="night.png")
    assert original.mode == "RGB"
    assert original.getpixel((32, 32)) == (0, 0, 0)  # 255 of 65535 is under 1 of 255: black, not white


def test_webp_is_converted_for_an_endpoint_without_webp(tmp_path: Path) -> None:
    path = write(tmp_path, "shoe.webp", encode(product_photo(300, 200), "WEBP"))
    prepared = prepare_image(path, AILAB_APPAREL, name="shoe.webp", out=tmp_path / "prepared")
    assert prepared.mimetype == "image/jpeg"
    assert prepared.filename == "shoe.jpg"
    assert decoded(prepared.read()).format == "JPEG"


def test_webp_is_sent_as_it_is_where_it_is_accepted(tmp_path: Path) -> None:
    data = encode(product_photo(300, 200), "WEBP")
    prepared = prepare_image(
        write(tmp_path, "face.webp", data), AILAB_PORTRAIT, name="face.webp", out=tmp_path / "prepared"
    )
    assert prepared.read() == data
    assert prepared.mimetype == "image/webp"


def test_transparent_palette_png_keeps_its_transparency(tmp_path: Path) -> None:
    rgba = product_photo(200, 200, mode="RGBA")
    rgba.putpixel((0, 0), (0, 0, 0, 0))
    palette = rgba.convert("P")
    palette.info["transparency"] = 0
    path = write(tmp_path, "logo.png", encode(palette, "PNG", transparency=0))
    prepared = prepare_image(path, AILAB_APPAREL, name="logo.png", out=tmp_path / "prepared")
    assert prepared.mimetype == "image/png"
    assert decoded(prepared.read()).mode == "RGBA"


def test_animated_gif_uses_its_first_frame(tmp_path: Path) -> None:
    frames = [product_photo(120, 120).convert("P"), Image.new("P", (120, 120), 3)]
    path = write(tmp_path, "spin.gif", encode(frames[0], "GIF", save_all=True, append_images=frames[1:]))
    prepared = prepare_image(path, AILAB_APPAREL, name="spin.gif", out=tmp_path / "prepared")
    image = decoded(prepared.read()).convert("RGB")
    assert image.size == (120, 120)
    assert image.getpixel((60, 60))[0] > 150  # the red subject of frame one


def test_too_small_image_is_refused_with_its_size_and_the_minimum(tmp_path: Path) -> None:
    path = write(tmp_path, "tiny.png", encode(product_photo(40, 40), "PNG"))
    with pytest.raises(ImageError) as caught:
        prepare_image(path, AILAB_APPAREL, name="tiny.png", out=tmp_path / "prepared")
    assert caught.value.code == "IMAGE_TOO_SMALL"
    assert "40×40" in caught.value.message
    assert "51×51" in caught.value.message


def test_very_thin_image_that_would_shrink_below_the_minimum_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "strip.png", encode(Image.new("RGB", (30000, 60), "white"), "PNG"))
    with pytest.raises(ImageError) as caught:
        prepare_image(path, AILAB_APPAREL, name="strip.png", out=tmp_path / "prepared")
    assert caught.value.code == "IMAGE_TOO_LARGE"
    assert "30000×60" in caught.value.message


def test_truncated_jpeg_is_refused(tmp_path: Path) -> None:
    data = encode(product_photo(800, 600), "JPEG")
    path = write(tmp_path, "cut.jpg", data[: len(data) // 2])
    with pytest.raises(ImageError) as caught:
        prepare_image(path, AILAB_APPAREL, name="cut.jpg", out=tmp_path / "prepared")
    assert caught.value.code == "IMAGE_UNREADABLE"
    assert "cut.jpg" in caught.value.message


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        (b"", "FILE_EMPTY", "is empty"),
        (b"%PDF-1.7 a document", "FILE_IS_PDF", "is a PDF"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "FILE_IS_SVG", "is an SVG"),
        (b"<?xml version='1.0'?>\n<svg xmlns='http://www.w3.org/2000/svg'/>", "FILE_IS_SVG", "is an SVG"),
        (b"<!DOCTYPE html><html><body>login</body></html>", "FILE_IS_HTML", "is a web page"),
        (b"GIF89a but then nothing that decodes", "IMAGE_UNREADABLE", "could not be read as an image"),
        (b"just some text that claims to be an image", "IMAGE_UNREADABLE", "could not be read as an image"),
    ],
)
def test_non_images_are_refused_saying_what_they_are(
    tmp_path: Path, data: bytes, code: str, words: str
) -> None:
    with pytest.raises(ImageError) as caught:
        prepare_image(
            write(tmp_path, "file.png", data), AILAB_APPAREL, name="file.png", out=tmp_path / "prepared"
        )
    assert caught.value.code == code
    assert words in caught.value.message


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    side = int(MAX_PIXELS**0.5) + 100
    path = write(tmp_path, "bomb.png", encode(Image.new("1", (side, side)), "PNG"))
    with pytest.raises(ImageError) as caught:
        prepare_image(path, AILAB_APPAREL, name="bomb.png", out=tmp_path / "prepared")
    assert caught.value.code == "IMAGE_TOO_MANY_PIXELS"
    assert f"{side}×{side}" in caught.value.message


def test_image_over_the_byte_limit_is_re_encoded_under_it(tmp_path: Path) -> None:
    limits = ImageLimits("Test", frozenset({"JPEG", "PNG"}), max_bytes=300_000, max_side=2000, min_side=10)
    path = write(tmp_path, "noise.png", encode(noisy_photo(900, 900), "PNG"))
    assert path.stat().st_size > limits.max_bytes
    prepared = prepare_image(path, limits, name="noise.png", out=tmp_path / "prepared")
    assert len(prepared.read()) <= limits.max_bytes
    assert decoded(prepared.read()).size == prepared.size


def test_heic_is_converted_to_a_format_the_endpoint_takes(tmp_path: Path) -> None:
    path = write(tmp_path, "IMG_0001.HEIC", encode(product_photo(640, 480), "HEIF"))
    prepared = prepare_image(path, AILAB_APPAREL, name="IMG_0001.HEIC", out=tmp_path / "prepared")
    assert prepared.mimetype == "image/jpeg"
    assert prepared.filename == "IMG_0001.jpg"
    image = decoded(prepared.read())
    assert (image.format, image.size) == ("JPEG", (640, 480))
    assert image.getpixel((320, 240))[0] > 150  # the red subject survived the conversion


def test_tiff_is_converted_for_aidge(tmp_path: Path) -> None:
    path = write(tmp_path, "scan.tiff", encode(product_photo(300, 300), "TIFF"))
    prepared = prepare_image(path, AIDGE_CUTOUT, name="scan.tiff", out=tmp_path / "prepared")
    assert prepared.mimetype in ("image/jpeg", "image/png")


def test_a_non_srgb_profile_is_converted_to_srgb(tmp_path: Path) -> None:
    lab = ImageCms.createProfile("LAB")
    profile = ImageCms.ImageCmsProfile(lab).tobytes()
    path = write(tmp_path, "wide.jpg", encode(product_photo(200, 200), "JPEG", icc_profile=profile))
    prepared = prepare_image(path, AILAB_APPAREL, name="wide.jpg", out=tmp_path / "prepared")
    assert prepared.read() != path.read_bytes()  # re-encoded rather than passed through
    assert "icc_profile" not in decoded(prepared.read()).info


def test_compose_restores_each_look_at_the_original_size() -> None:
    original = product_photo(800, 600)
    small_mask = Image.new("L", (400, 300), 0)
    small_mask.paste(255, (100, 45, 300, 255))  # the subject, at half size
    white = compose(original, small_mask, Output.WHITE)
    assert (white.mode, white.size) == ("RGB", (800, 600))
    assert white.getpixel((10, 10)) == (255, 255, 255)
    assert white.getpixel((400, 300)) == original.getpixel((400, 300))
    cutout = compose(original, small_mask, Output.TRANSPARENT)
    assert (cutout.mode, cutout.size) == ("RGBA", (800, 600))
    assert cutout.getpixel((10, 10)) == (0, 0, 0, 0)  # no colour kept where nothing shows
    assert cutout.getpixel((400, 300)) == (*original.getpixel((400, 300)), 255)
    mask = compose(original, small_mask, Output.MASK)
    assert (mask.mode, mask.size) == ("L", (800, 600))
    crop = compose(original, small_mask, Output.CROP)
    assert abs(crop.size[0] - 400) <= 4 and abs(crop.size[1] - 420) <= 4


def test_mask_of_reads_alpha_or_gray_and_fit_mask_scales_smoothly() -> None:
    rgba = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    rgba.putpixel((5, 5), (9, 9, 9, 200))
    assert mask_of(rgba).getpixel((5, 5)) == 200
    gray = Image.new("L", (4, 4), 0)
    gray.paste(255, (0, 0, 2, 4))
    big = fit_mask(gray, (40, 40))
    assert big.size == (40, 40)
    assert 0 < big.getpixel((20, 20)) < 255  # a soft edge, not a hard step
    assert has_subject(gray)
    assert not has_subject(Image.new("L", (4, 4), 20))


def test_load_original_is_upright_full_size_srgb(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 8
    path = write(tmp_path, "turned.jpg", encode(product_photo(600, 400), "JPEG", exif=exif.tobytes()))
    original = load_original(path, name="turned.jpg")
    assert (original.mode, original.size) == ("RGB", (400, 600))


def test_colour_is_cleared_only_where_fully_transparent(tmp_path: Path) -> None:
    original = noisy_photo(300, 200)
    ramp = Image.linear_gradient("L").resize((300, 200))  # 0 at the top to 255 at the bottom
    ramp.paste(0, (0, 0, 300, 40))
    cutout = compose(original, ramp, Output.TRANSPARENT)
    for y in range(0, 200, 7):
        pixel = cutout.getpixel((150, y))
        if pixel[3] == 0:
            assert pixel == (0, 0, 0, 0)
        else:  # a soft edge keeps its true colour, or it would darken when shown
            assert pixel[:3] == original.getpixel((150, y))
    cutout.save(tmp_path / "cleared.png")
    kept = original.convert("RGBA")
    kept.putalpha(ramp)
    kept.save(tmp_path / "kept.png")
    assert (tmp_path / "cleared.png").stat().st_size < (tmp_path / "kept.png").stat().st_size
