"""One image through one engine: prepare → cut → fetch the results into named files.

Shared by the task runner (Slack) and the command-line tool (local files).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path

from bot.grammar import Mode, Spec
from bot.imaging import PreparedImage, image_size, prepare_image
from bot.vendors.base import MAIN_ROLE, CutoutEngine, ResultPart
from bot.vendors.errors import ErrorKind, VendorRejected
from storage.models import ResultFile

_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "png"),
    (b"\xff\xd8\xff", 0, "jpg"),
    (b"WEBP", 8, "webp"),
    (b"GIF8", 0, "gif"),
    (b"PK\x03\x04", 0, "zip"),
)
_LOOK_TITLES = {
    "transparent": "transparent background",
    "white": "white background",
    "mask": "mask",
    "crop": "cropped",
}


@dataclass(frozen=True, slots=True)
class CutOutcome:
    files: list[ResultFile]
    original_size: tuple[int, int]
    sent_size: tuple[int, int]
    result_size: tuple[int, int] | None
    engine: str


async def prepare(source: Path, *, name: str, spec: Spec, engine: CutoutEngine) -> PreparedImage:
    """Make the source acceptable to the engine (in a thread: decoding is CPU work)."""
    return await asyncio.to_thread(prepare_image, source, engine.limits(spec), name=name)


async def fetch_results(
    parts: list[ResultPart], *, name: str, spec: Spec, engine: CutoutEngine, out_dir: Path
) -> list[ResultFile]:
    """Download or write every result part into `out_dir` under a name that says what it is."""
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    stem = file_stem(name)
    files: list[ResultFile] = []
    for index, part in enumerate(parts):
        staging = out_dir / f".result-{index}"
        if part.content is not None:
            staging.write_bytes(part.content)
        elif part.url:
            await engine.fetch(part.url, staging)
        else:
            raise VendorRejected(
                vendor=engine.name,
                code="EMPTY_RESULT",
                message="a result had no data",
                kind=ErrorKind.RESULT_MISSING,
            )
        extension = _sniff(staging)
        if extension is None or (extension != "zip" and image_size(staging) is None):
            staging.unlink(missing_ok=True)
            raise VendorRejected(
                vendor=engine.name,
                code="RESULT_NOT_AN_IMAGE",
                message="the result file was not an image",
                kind=ErrorKind.RESULT_MISSING,
            )
        file_name = result_name(stem, spec, part.role, extension)
        final = out_dir / file_name
        staging.replace(final)
        files.append(ResultFile(path=str(final), name=file_name, title=result_title(spec, part.role)))
    return files


async def cut_image(
    source: Path, *, name: str, spec: Spec, engine: CutoutEngine, out_dir: Path
) -> CutOutcome:
    """The whole path for one image, for callers that need no step-by-step record (the CLI)."""
    prepared = await prepare(source, name=name, spec=spec, engine=engine)
    parts = await engine.cut(prepared, spec)
    files = await fetch_results(parts, name=name, spec=spec, engine=engine, out_dir=out_dir)
    return outcome(prepared, files, engine)


def outcome(prepared: PreparedImage, files: list[ResultFile], engine: CutoutEngine) -> CutOutcome:
    return CutOutcome(
        files=files,
        original_size=prepared.original_size,
        sent_size=prepared.size,
        result_size=image_size(Path(files[0].path)) if files else None,
        engine=engine.name,
    )


def file_stem(name: str) -> str:
    """A file name's stem made safe for result names: letters, digits, dot, dash, underscore."""
    stem = re.sub(r"[^\w.-]+", "-", Path(name).stem).strip("-._")
    return stem[:60] or "image"


def result_name(stem: str, spec: Spec, role: str, extension: str) -> str:
    """`shirt-apparel-white.png` for the main result, `shirt-white-tops.png` for a class."""
    if spec.mode is Mode.SEGMENT:
        return f"{stem}-segment.{extension}" if role == MAIN_ROLE else f"{stem}-mask-{role}.{extension}"
    look = spec.output.value
    if role == MAIN_ROLE:
        return f"{stem}-{spec.mode}-{look}.{extension}"
    return f"{stem}-{look}-{role}.{extension}"


def result_title(spec: Spec, role: str) -> str:
    look = _LOOK_TITLES.get(spec.output.value, spec.output.value)
    if spec.mode is Mode.SEGMENT:
        return "segmentation" if role == MAIN_ROLE else f"{role} mask"
    if role == MAIN_ROLE:
        return f"{spec.mode}, {look}"
    return f"{role}, {look}"


def _sniff(path: Path) -> str | None:
    with open(path, "rb") as handle:
        head = handle.read(16)
    for magic, offset, extension in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return extension
    return None
