"""The command-line tool: files and folders, the same grammar, the same runner and engines as the bot."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot.__main__ import main
from bot.cli.batch import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    EXIT_USAGE,
    collect_inputs,
    run_cutout,
    split_arguments,
    write_new,
)
from bot.config import Config
from fakes.ailab import FakeAILab
from fakes.images import encode, jpeg_bytes, product_photo
from fakes.scenes import scene


@pytest.fixture
async def ailab():
    fake = await FakeAILab().start()
    yield fake
    await fake.stop()


def config_for(ailab: FakeAILab) -> Config:
    return Config.from_env(
        {"AILAB_API_KEY": ailab.api_key, "AILAB_BASE_URL": ailab.url, "CUTOUT_ALLOW_PRIVATE_URLS": "true"},
        env_file=None,
    )


NO_KEYS = Config.from_env({}, env_file=None)


def photo(folder: Path, name: str, size: tuple[int, int] = (500, 400)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(jpeg_bytes(*size))
    return path


def test_split_arguments_takes_leading_paths_then_words(tmp_path: Path) -> None:
    a = photo(tmp_path, "a.jpg")
    assert split_arguments([str(a), str(tmp_path), "apparel", "tops"]) == ([a, tmp_path], ["apparel", "tops"])
    assert split_arguments(["apparel"]) == ([], ["apparel"])


def test_folders_are_searched_recursively_for_images_only(tmp_path: Path) -> None:
    shoot = tmp_path / "shoot"
    a = photo(shoot, "a.jpg")
    b = photo(shoot / "day2", "b.PNG")
    (shoot / "notes.txt").write_text("not an image")
    photo(shoot / ".cache", "hidden.jpg")
    photo(tmp_path / "shoot" / "old-cutouts", "a-apparel-transparent.png")
    inputs = collect_inputs([shoot], None).found
    assert [(i.path, i.out_dir) for i in inputs] == [
        (a, tmp_path / "shoot-cutouts"),
        (b, tmp_path / "shoot-cutouts" / "day2"),
    ]
    out = tmp_path / "out"
    assert [i.out_dir for i in collect_inputs([shoot, a], out).found] == [
        out,
        out / "day2",
    ]  # a file given twice: once


async def test_cuts_out_files_into_the_out_folder_through_the_vendor(
    tmp_path: Path, ailab: FakeAILab
) -> None:
    a, b = photo(tmp_path, "a.jpg"), photo(tmp_path, "b.jpg")
    out, err = io.StringIO(), io.StringIO()
    code = await run_cutout(
        config_for(ailab),
        [str(a), str(b), "apparel", "tops,coat", "mask"],
        out_dir=tmp_path / "out",
        out=out,
        err=err,
    )
    assert code == EXIT_OK, err.getvalue()
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == sorted(
        f"{stem}-{suffix}.png" for stem in ("a", "b") for suffix in ("apparel-mask", "mask-tops", "mask-coat")
    )
    with Image.open(tmp_path / "out" / "a-apparel-mask.png") as mask:
        assert mask.size == (500, 400)
    assert out.getvalue().count(" → ") == 6
    assert "2 done, 0 failed" in err.getvalue()
    assert [r.fields for r in ailab.requests] == [
        {"out_mode": "1", "cloth_class": "tops,coat", "return_form": "mask"}
    ] * 2
    assert a.read_bytes() == jpeg_bytes(500, 400)  # the input is untouched


async def test_a_folder_runs_on_the_local_engine_without_keys_with_several_jobs(tmp_path: Path) -> None:
    shoot = tmp_path / "shoot"
    for n in range(4):
        (shoot / f"p{n}.png").parent.mkdir(parents=True, exist_ok=True)
        (shoot / f"p{n}.png").write_bytes(encode(product_photo(400, 300), "PNG"))
    err = io.StringIO()
    code = await run_cutout(
        NO_KEYS, [str(shoot), "product", "white"], out_dir=None, jobs=3, out=io.StringIO(), err=err
    )
    assert code == EXIT_OK, err.getvalue()
    results = sorted(p.name for p in (tmp_path / "shoot-cutouts").iterdir())
    assert results == [f"p{n}-product-white.jpg" for n in range(4)]
    with Image.open(tmp_path / "shoot-cutouts" / "p0-product-white.jpg") as white:
        assert white.size == (400, 300)
        assert min(white.getpixel((5, 5))) > 245  # the background became white
        red = white.getpixel((200, 150))
        assert red[0] > 150 and red[1] < 100  # the subject stayed
    assert "4 done, 0 failed" in err.getvalue()


async def test_a_photo_on_a_busy_background_is_cut_by_the_shipped_model(tmp_path: Path) -> None:
    made = scene("person", "busy", (640, 480), seed=2)
    source = tmp_path / "street.png"
    Image.fromarray(made.image).save(source)
    out, err = io.StringIO(), io.StringIO()
    code = await run_cutout(NO_KEYS, [str(source), "portrait", "mask"], out_dir=None, out=out, err=err)
    assert code == EXIT_OK, err.getvalue()
    with Image.open(tmp_path / "street-portrait-mask.png") as result:
        cut = np.asarray(result.convert("L")) >= 128
    truth = made.alpha >= 0.5
    assert (cut & truth).sum() / (cut | truth).sum() >= 0.9  # the classical engine alone: about 0.5


async def test_the_engines_notes_are_printed_with_the_file(tmp_path: Path) -> None:
    source = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)).save(source)
    out = io.StringIO()
    code = await run_cutout(NO_KEYS, [str(source), "product"], out_dir=None, out=out, err=io.StringIO())
    assert code == EXIT_OK
    assert f"{source}: note: the background was busy and the local engine was unsure" in out.getvalue()


async def test_results_go_beside_a_single_file(tmp_path: Path) -> None:
    a = photo(tmp_path, "face.jpg")
    code = await run_cutout(
        NO_KEYS, [str(a), "portrait", "crop"], out_dir=None, out=io.StringIO(), err=io.StringIO()
    )
    assert code == EXIT_OK
    assert (tmp_path / "face-portrait-crop.png").is_file()


async def test_an_input_is_never_overwritten(tmp_path: Path) -> None:
    original = encode(product_photo(300, 300), "PNG")
    clash = tmp_path / "x-apparel-mask.png"
    clash.write_bytes(original)
    source = tmp_path / "x.png"
    source.write_bytes(original)
    code = await run_cutout(
        NO_KEYS,
        [str(source), str(clash), "apparel", "mask"],
        out_dir=None,
        out=io.StringIO(),
        err=io.StringIO(),
    )
    assert code == EXIT_OK
    assert clash.read_bytes() == original
    assert (tmp_path / "x-apparel-mask-2.png").is_file()  # x.png's mask, beside the input it would have hit
    assert (tmp_path / "x-apparel-mask-apparel-mask.png").is_file()  # the clash's own mask


async def test_a_second_run_numbers_its_results_instead_of_overwriting(tmp_path: Path) -> None:
    source = photo(tmp_path, "x.jpg")
    for _ in range(3):
        out = io.StringIO()
        code = await run_cutout(
            NO_KEYS, [str(source), "product"], out_dir=tmp_path / "o", out=out, err=io.StringIO()
        )
        assert code == EXIT_OK
    first = tmp_path / "o" / "x-product-transparent.png"
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "x-product-transparent-2.png",
        "x-product-transparent-3.png",
        "x-product-transparent.png",
    ]
    assert f"→ {tmp_path / 'o' / 'x-product-transparent-3.png'}" in out.getvalue()
    assert first.read_bytes() == (tmp_path / "o" / "x-product-transparent-2.png").read_bytes()


async def test_a_symlink_at_the_output_path_is_not_written_through(tmp_path: Path) -> None:
    source = photo(tmp_path / "in", "x.jpg")
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("precious")
    out = tmp_path / "o"
    out.mkdir()
    (out / "x-product-transparent.png").symlink_to(elsewhere)
    (out / "x-product-transparent-2.png").symlink_to(tmp_path / "nothing-here.png")  # dangling
    code = await run_cutout(
        NO_KEYS, [str(source), "product"], out_dir=out, out=io.StringIO(), err=io.StringIO()
    )
    assert code == EXIT_OK
    assert elsewhere.read_text() == "precious"
    assert not (tmp_path / "nothing-here.png").exists()
    assert (out / "x-product-transparent.png").is_symlink()
    written = out / "x-product-transparent-3.png"
    assert written.is_file() and not written.is_symlink()
    with Image.open(written) as cutout:
        assert cutout.mode == "RGBA"


def test_write_new_refuses_every_taken_name_up_to_the_cap(tmp_path: Path) -> None:
    source = tmp_path / "source.png"
    source.write_bytes(b"result")
    for name in ("r.png", "r-2.png", "r-3.png"):
        (tmp_path / name).write_bytes(b"taken")
    with pytest.raises(FileExistsError):
        write_new(source, tmp_path / "r.png", max_numbered_name=3)
    assert all((tmp_path / n).read_bytes() == b"taken" for n in ("r.png", "r-2.png", "r-3.png"))


async def test_symlinks_leading_outside_the_given_folders_are_skipped_and_said(tmp_path: Path) -> None:
    shoot = tmp_path / "shoot"
    photo(shoot, "a.jpg")
    outside = photo(tmp_path / "private", "secret.jpg")
    (shoot / "leak.jpg").symlink_to(outside)
    (shoot / "album").symlink_to(tmp_path / "private", target_is_directory=True)
    (shoot / "again.jpg").symlink_to(shoot / "a.jpg")  # inside: fine, and the same image as a.jpg
    (shoot / "day2").mkdir()
    (shoot / "day2" / "b.jpg").symlink_to(Path("..") / "a.jpg")  # inside, relative: fine
    collected = collect_inputs([shoot], None)
    assert [i.path for i in collected.found] == [shoot / "a.jpg"]
    assert sorted(s.path.name for s in collected.skipped) == ["album", "leak.jpg"]
    out, err = io.StringIO(), io.StringIO()
    code = await run_cutout(NO_KEYS, [str(shoot), "product"], out_dir=None, out=out, err=err)
    assert code == EXIT_OK
    text = err.getvalue()
    assert f"{shoot / 'leak.jpg'}: skipped: a link that leads outside the folders and files given" in text
    assert f"{shoot / 'album'}: skipped:" in text
    assert "1 done, 0 failed, 2 skipped" in text
    assert "2 × skipped: a link that leads outside the folders and files given" in text
    assert [p.name for p in (tmp_path / "shoot-cutouts").iterdir()] == ["a-product-transparent.png"]
    assert "secret" not in out.getvalue()


def test_a_symlink_inside_is_cut_and_one_leading_to_a_given_file_too(tmp_path: Path) -> None:
    shoot = tmp_path / "shoot"
    real = photo(shoot / "raw", "real.jpg")
    (shoot / "pick.jpg").symlink_to(real)
    extra = photo(tmp_path / "extra", "extra.jpg")
    (shoot / "extra-link.jpg").symlink_to(extra)
    collected = collect_inputs([shoot, extra], None)
    assert collected.skipped == []
    assert sorted(i.path.name for i in collected.found) == ["extra-link.jpg", "pick.jpg"]
    # a symlink alone is fine only with what it leads to given as well
    assert [s.path.name for s in collect_inputs([shoot], None).skipped] == ["extra-link.jpg"]


async def test_names_in_reasons_read_plainly_on_the_terminal(tmp_path: Path) -> None:
    broken = tmp_path / "a<b>&c.png"
    broken.write_bytes(b"not a png at all")
    err = io.StringIO()
    code = await run_cutout(NO_KEYS, [str(broken), "product"], out_dir=None, out=io.StringIO(), err=err)
    assert code == EXIT_SOME_FAILED
    assert "‘a<b>&c.png’ could not be read as an image" in err.getvalue()
    assert "&lt;" not in err.getvalue() and "&amp;" not in err.getvalue()


async def test_failures_are_counted_with_reasons_and_set_the_exit_status(tmp_path: Path) -> None:
    shoot = tmp_path / "shoot"
    photo(shoot, "tiny.jpg", (10, 10))
    (shoot / "broken.png").write_bytes(b"not a png at all")
    photo(shoot, "good.jpg")
    err = io.StringIO()
    code = await run_cutout(
        NO_KEYS, [str(shoot), "apparel"], out_dir=tmp_path / "o", out=io.StringIO(), err=err
    )
    assert code == EXIT_SOME_FAILED
    text = err.getvalue()
    assert "1 done, 2 failed" in text
    assert "tiny.jpg: failed:" in text and "10×10" in text
    assert "broken.png: failed:" in text
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["good-apparel-transparent.png"]


async def test_segment_without_a_vendor_or_model_says_what_to_set(tmp_path: Path) -> None:
    err = io.StringIO()
    code = await run_cutout(NO_KEYS, [str(photo(tmp_path, "a.jpg")), "segment"], out_dir=None, err=err)
    assert code == EXIT_USAGE
    assert "PICWISH_API_KEY" in err.getvalue()
    assert "CUTOUT_LOCAL_MODEL" in err.getvalue()


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["apparel", "topz"], "Did you mean ‘tops’?"),
        (["status"], "not a sub-command"),
        ([], "give the spec words"),
    ],
)
async def test_bad_spec_words_are_explained(tmp_path: Path, words: list[str], message: str) -> None:
    err = io.StringIO()
    code = await run_cutout(NO_KEYS, [str(photo(tmp_path, "a.jpg")), *words], out_dir=None, err=err)
    assert code == EXIT_USAGE
    assert message in err.getvalue()


async def test_missing_image_and_empty_folder_are_named(tmp_path: Path) -> None:
    err = io.StringIO()
    assert await run_cutout(NO_KEYS, ["nothere.jpg", "apparel"], out_dir=None, err=err) == EXIT_USAGE
    assert "no such image file or folder: nothere.jpg" in err.getvalue()
    (tmp_path / "empty").mkdir()
    err = io.StringIO()
    assert (
        await run_cutout(NO_KEYS, [str(tmp_path / "empty"), "apparel"], out_dir=None, err=err) == EXIT_USAGE
    )
    assert "no image files found" in err.getvalue()


def test_console_entry_point_runs_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = photo(tmp_path, "a.jpg")
    assert main(["cutout", str(image), "apparel", "--jobs", "1"]) == EXIT_OK
    captured = capsys.readouterr()
    assert f"{image} → {tmp_path / 'a-apparel-transparent.png'}" in captured.out
    assert "1 done, 0 failed" in captured.err


def test_without_slack_tokens_the_main_job_cuts_out_the_bundled_sample(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main([]) == EXIT_OK
    captured = capsys.readouterr()
    result = tmp_path / "cutout-out" / "sample-product-product-transparent.png"
    assert "No SLACK_BOT_TOKEN is set" in captured.err
    assert f"→ {Path('cutout-out') / result.name}" in captured.out
    with Image.open(result) as cutout:
        assert cutout.mode == "RGBA"
        alpha = cutout.getchannel("A")
        assert alpha.getpixel((3, 3)) == 0  # the corner is background
        assert alpha.getpixel((cutout.width // 2, cutout.height // 2)) == 255  # the middle is the product


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "run" in text
    assert "cutout" in text
