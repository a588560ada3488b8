"""The command-line tool: the same grammar and vendor clients on local files."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from bot.__main__ import main
from bot.cli import EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, run_cutout, split_arguments
from bot.config import Config
from tests.fakes.ailab import FakeAILab
from tests.images import jpeg_bytes


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


def photo(folder: Path, name: str, size: tuple[int, int] = (500, 400)) -> Path:
    path = folder / name
    path.write_bytes(jpeg_bytes(*size))
    return path


def test_split_arguments_takes_leading_files_then_words(tmp_path: Path) -> None:
    a, b = photo(tmp_path, "a.jpg"), photo(tmp_path, "b.jpg")
    assert split_arguments([str(a), str(b), "apparel", "tops"]) == ([a, b], ["apparel", "tops"])
    assert split_arguments(["apparel"]) == ([], ["apparel"])


async def test_cuts_out_files_into_the_out_folder(tmp_path: Path, ailab: FakeAILab) -> None:
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
    assert out.getvalue().count("→") == 6
    assert [r.fields for r in ailab.requests] == [
        {"out_mode": "1", "cloth_class": "tops,coat", "return_form": "mask"}
    ] * 2
    assert a.read_bytes() == jpeg_bytes(500, 400)  # the input is untouched


async def test_results_go_beside_the_input_by_default(tmp_path: Path, ailab: FakeAILab) -> None:
    a = photo(tmp_path, "face.jpg")
    code = await run_cutout(config_for(ailab), [str(a), "portrait", "crop"], out_dir=None, out=io.StringIO())
    assert code == EXIT_OK
    assert (tmp_path / "face-portrait-crop.png").is_file()


async def test_one_failed_file_does_not_stop_the_others_and_sets_the_exit_status(
    tmp_path: Path, ailab: FakeAILab
) -> None:
    tiny = photo(tmp_path, "tiny.jpg", (40, 40))
    good = photo(tmp_path, "good.jpg")
    err = io.StringIO()
    code = await run_cutout(
        config_for(ailab),
        [str(tiny), str(good), "apparel"],
        out_dir=tmp_path / "o",
        err=err,
        out=io.StringIO(),
    )
    assert code == EXIT_SOME_FAILED
    assert "tiny.jpg: failed:" in err.getvalue()
    assert "40×40" in err.getvalue()
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["good-apparel-transparent.png"]
    assert len(ailab.requests) == 1  # the refused image never reached the vendor


async def test_without_the_vendor_key_it_names_the_variable(tmp_path: Path) -> None:
    err = io.StringIO()
    code = await run_cutout(
        Config.from_env({}, env_file=None), [str(photo(tmp_path, "a.jpg")), "apparel"], out_dir=None, err=err
    )
    assert code == EXIT_USAGE
    assert "AILAB_API_KEY" in err.getvalue()


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["apparel", "topz"], "Did you mean 'tops'?"),
        (["status"], "not a sub-command"),
        ([], "give the spec words"),
    ],
)
async def test_bad_spec_words_are_explained(tmp_path: Path, words: list[str], message: str) -> None:
    err = io.StringIO()
    code = await run_cutout(
        Config.from_env({}, env_file=None), [str(photo(tmp_path, "a.jpg")), *words], out_dir=None, err=err
    )
    assert code == EXIT_USAGE
    assert message in err.getvalue()


async def test_missing_image_is_named(tmp_path: Path) -> None:
    err = io.StringIO()
    code = await run_cutout(
        Config.from_env({}, env_file=None), ["nothere.jpg", "apparel"], out_dir=None, err=err
    )
    assert code == EXIT_USAGE
    assert "no such image file: nothere.jpg" in err.getvalue()


def test_console_entry_point_runs_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = photo(tmp_path, "a.jpg")
    assert main(["cutout", str(image), "apparel"]) == EXIT_USAGE  # no key in the clean environment
    assert "AILAB_API_KEY" in capsys.readouterr().err


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "run" in text
    assert "cutout" in text
