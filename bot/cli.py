"""The command-line tool: `cutout-bot cutout IMAGE… SPEC-WORDS [--out DIR]`.

The same grammar, image preparation and vendor clients as the bot, on local files.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from bot.config import Config
from bot.failures import TaskFailure
from bot.grammar import ParseError, RunCommand, parse_command
from bot.pipeline import cut_image
from bot.vendors import Vendors
from bot.vendors.base import NoProgress

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2


def split_arguments(items: list[str]) -> tuple[list[Path], list[str]]:
    """Leading items that name existing files are images; the rest are spec words."""
    images: list[Path] = []
    for index, item in enumerate(items):
        path = Path(item)
        if path.is_file():
            images.append(path)
        else:
            return images, items[index:]
    return images, []


async def run_cutout(
    config: Config,
    items: list[str],
    *,
    out_dir: Path | None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    images, words = split_arguments(items)
    if not images:
        missing = items[0] if items else "IMAGE"
        print(f"cutout-bot: no such image file: {missing}", file=err)
        return EXIT_USAGE
    if not words:
        print("cutout-bot: give the spec words after the images, e.g. `apparel tops whiteBK`", file=err)
        return EXIT_USAGE
    try:
        command = parse_command(" ".join(words))
    except ParseError as error:
        print(f"cutout-bot: {_plain(error.message)}", file=err)
        return EXIT_USAGE
    if not isinstance(command, RunCommand) or command.url is not None:
        print(
            "cutout-bot: the command-line tool takes a spec (mode and options), not a sub-command or URL",
            file=err,
        )
        return EXIT_USAGE
    spec = command.spec
    vendors = Vendors.from_config(config)
    try:
        try:
            engine = vendors.for_spec(spec)
        except TaskFailure as failure:
            print(f"cutout-bot: {_plain(failure.user_text())}", file=err)
            return EXIT_USAGE
        failed = 0
        for image in images:
            target = out_dir or image.parent
            try:
                result = await cut_image(
                    image, name=image.name, spec=spec, engine=engine, out_dir=target, progress=NoProgress()
                )
            except TaskFailure as failure:
                failed += 1
                print(f"{image}: failed: {_plain(failure.user_text())}", file=err)
                continue
            for file in result.files:
                print(f"{image} → {file.path}", file=out)
        return EXIT_SOME_FAILED if failed else EXIT_OK
    finally:
        await vendors.aclose()


def _plain(text: str) -> str:
    """Slack mrkdwn made readable on a terminal."""
    return text.replace("`", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
