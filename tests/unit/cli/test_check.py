"""`cutout-bot check PATH… PRESET`, the listing-photo linter, and listing images from `cutout-bot cutout`."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from bot.__main__ import main
from bot.cli.batch import EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, run_cutout
from bot.cli.check import run_check
from bot.config import Config
from fakes.images import encode, product_photo

NO_KEYS = Config.from_env({}, env_file=None)


def listing_photo(
    path: Path, *, background: tuple[int, int, int] = (255, 255, 255), side: int = 2000
) -> Path:
    image = Image.new("RGB", (side, side), background)
    margin = side // 20
    image.paste((30, 60, 160), (margin, margin, side - margin, side - margin))  # 90%, centred
    image.save(path, "JPEG", quality=95, subsampling=0)
    return path


async def test_check_prints_a_table_and_fails_the_run_when_any_image_fails(tmp_path: Path) -> None:
    good = listing_photo(tmp_path / "good.jpg")
    grey = listing_photo(tmp_path / "grey.jpg", background=(215, 215, 215))
    small = listing_photo(tmp_path / "small.jpg", side=600)
    out = io.StringIO()
    code = await run_check([str(good), str(grey), str(small), "amazon"], out=out, err=io.StringIO())
    text = out.getvalue()
    assert code == EXIT_SOME_FAILED
    assert f"pass  {good}" in text
    assert f"FAIL  {grey}" in text and "FAIL background:" in text
    assert f"FAIL  {small}" in text and "FAIL size: 600×600 px" in text
    assert "1 pass, 2 fail" in text


async def test_check_passes_a_folder_of_good_photos(tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    shop.mkdir()
    for n in range(3):
        listing_photo(shop / f"p{n}.jpg")
    out = io.StringIO()
    assert await run_check([str(shop), "amazon"], out=out, err=io.StringIO()) == EXIT_OK
    assert "3 pass, 0 fail" in out.getvalue()


async def test_check_says_what_is_wrong_with_its_words(tmp_path: Path) -> None:
    photo = listing_photo(tmp_path / "a.jpg")
    for items, says in (
        ([str(photo)], "Name the marketplace"),
        ([str(photo), "amazn"], "Did you mean ‘amazon’?"),
        (["missing.jpg", "amazon"], "no such image file or folder"),
    ):
        err = io.StringIO()
        assert await run_check(items, out=io.StringIO(), err=err) == EXIT_USAGE
        assert says in err.getvalue()


def test_check_is_a_command_of_cutout_bot(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["check", str(listing_photo(tmp_path / "ok.jpg")), "ebay"]) == EXIT_OK
    assert "eBay main image rules" in capsys.readouterr().out


async def test_cutout_with_a_preset_writes_the_listing_image_and_its_report(tmp_path: Path) -> None:
    source = tmp_path / "mug.png"
    source.write_bytes(encode(product_photo(1200, 900), "PNG"))
    out = io.StringIO()
    code = await run_cutout(
        NO_KEYS, [str(source), "product", "etsy"], out_dir=None, out=out, err=io.StringIO()
    )
    assert code == EXIT_OK
    with Image.open(tmp_path / "mug-etsy.jpg") as result:
        assert result.size == (2000, 1500) and result.format == "JPEG"
        pixels = np.asarray(result.convert("RGB"))
    assert (pixels[:20] == 255).all() and (pixels[-20:] == 255).all()  # the frame's band, pure white
    assert "Etsy main image passes:" in out.getvalue()
    assert "ok   fill:" in out.getvalue()
