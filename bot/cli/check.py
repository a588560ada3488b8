"""`cutout-bot check PATH… PRESET`: a linter for listing photos. Each image is measured as it is against a
marketplace's rules for a main image — nothing is cut, no vendor is called — and a table says, file by file,
which rules fail and what was measured. The exit status is 1 when any image fails (or cannot be read), so a
shop's own pipeline can run it."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TextIO

from bot.cli.batch import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    EXIT_USAGE,
    UsageError,
    collect_inputs,
    compliance_lines,
    split_arguments,
)
from bot.domain.grammar import ParseError, RunCommand, parse_command
from bot.domain.listing import PRESETS, Preset
from bot.imaging.decode import ImageError
from bot.imaging.listing import check_image

__all__ = ["run_check"]


async def run_check(items: list[str], *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        preset, paths = _arguments(items)
        inputs = collect_inputs(paths, None)
        if not inputs.found:
            raise UsageError("no image files found in " + ", ".join(str(p) for p in paths))
    except UsageError as error:
        print(f"cutout-bot: {error}", file=err)
        return EXIT_USAGE
    title = PRESETS[preset].title
    failed = 0
    print(f"{title} main image rules, {len(inputs.found)} image(s):", file=out)
    for found in inputs.found:
        try:
            report = await asyncio.to_thread(check_image, found.path, preset)
        except ImageError as error:
            failed += 1
            print(f"FAIL  {found.path}: {error.message}", file=out)
            continue
        failed += not report.passed
        print(f"{'pass' if report.passed else 'FAIL'}  {found.path}", file=out)
        for line in compliance_lines(report, only_failed=True):
            print(f"      {line}", file=out)
    print(f"{len(inputs.found) - failed} pass, {failed} fail", file=out)
    return EXIT_SOME_FAILED if failed else EXIT_OK


def _arguments(items: list[str]) -> tuple[Preset, list[Path]]:
    paths, words = split_arguments(items)
    if not paths:
        raise UsageError(f"no such image file or folder: {items[0] if items else 'PATH'}")
    try:
        command = parse_command(" ".join(["check", *words]))
    except ParseError as error:
        raise UsageError(error.message) from None
    assert isinstance(command, RunCommand) and command.spec.check is not None
    if command.url is not None:
        raise UsageError("the check takes image files and folders, then a marketplace")
    return command.spec.check, paths
