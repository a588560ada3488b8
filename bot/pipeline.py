"""One image through one engine: plan → cut (or resume) → finish the results into named files.

Used by the task runner, for Slack and for the command-line tool alike.

Full resolution: when the image had to be downscaled for the engine, the engine is asked for the output
that carries the subject's alpha (`engine.alpha_output`: a mask, or transparency) and the look the user
asked for (transparent, white, mask, crop) is composed here from the original pixels and that alpha,
scaled back up smoothly. Segmentation masks are always fitted to the original's size. A product result
at a `WIDTHxHEIGHT` target size is the exception: the user asked for that size.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from bot.grammar import Mode, Output, Spec
from bot.image_work import ImageWork
from bot.imaging import (
    PreparedImage,
    compose,
    fit_mask,
    has_subject,
    image_size,
    load_original,
    mask_of,
    prepare_image,
    save_result,
)
from bot.vendors.base import (
    MAIN_ROLE,
    PARTS_ROLE,
    CutoutEngine,
    CutProgress,
    ImageInput,
    ImageURL,
    NoProgress,
    ResultPart,
)
from bot.vendors.errors import ErrorKind, VendorError, VendorRejected
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
class Job:
    """What to cut: the original on disk, a URL the engine may fetch itself, or both."""

    spec: Spec
    name: str  # the image's file name, for result names
    source: Path | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    image: ImageInput  # what the engine receives
    vendor_spec: Spec  # the spec as sent: the output may be a mask to restore from
    restore: bool  # compose the user's output at full size from the engine's alpha
    prepared: PreparedImage | None


@dataclass(frozen=True, slots=True)
class CutOutcome:
    files: list[ResultFile]
    original_size: tuple[int, int] | None
    result_size: tuple[int, int] | None
    engine: str


async def plan(job: Job, engine: CutoutEngine, work: ImageWork, workdir: Path) -> Plan:
    """Decide what the engine receives; a re-encoded image is written into `workdir`. Preparing decodes
    the image: it runs on an image thread."""
    if job.url is not None and engine.accepts_urls:
        return Plan(ImageURL(job.url), job.spec, restore=False, prepared=None)
    assert job.source is not None, "a job without a URL the engine takes needs the image on disk"
    prepared = await work.run(
        prepare_image, job.source, engine.limits(job.spec), name=job.name, out=workdir / "prepared"
    )
    alpha = engine.alpha_output(job.spec)
    restore = prepared.downscaled and alpha is not None and job.spec.mode is not Mode.SEGMENT
    vendor_spec = dataclasses.replace(job.spec, output=alpha) if restore and alpha is not None else job.spec
    return Plan(prepared, vendor_spec, restore, prepared)


async def call_engine(
    engine: CutoutEngine, plan: Plan, progress: CutProgress, *, vendor_task_id: str | None = None
) -> list[ResultPart]:
    """Cut (or resume an accepted job); a vendor's size complaint gets the sizes we sent added."""
    try:
        if vendor_task_id is not None:
            return await engine.resume(vendor_task_id, plan.vendor_spec, progress)
        return await engine.cut(plan.image, plan.vendor_spec, progress)
    except VendorError as error:
        if error.kind in (ErrorKind.IMAGE_TOO_LARGE, ErrorKind.IMAGE_TOO_SMALL) and plan.prepared is not None:
            limits = engine.limits(plan.vendor_spec)
            width, height = plan.prepared.size
            error.detail = (
                f"The bot sent it at {width}×{height} pixels, {plan.prepared.byte_size / 1e6:.1f} MB; "
                f"{limits.endpoint} documents {limits.min_side}–{limits.max_side} pixels a side "
                f"and {limits.max_bytes / 1e6:.0f} MB."
            )
        raise


async def finish(
    job: Job, plan: Plan, parts: list[ResultPart], engine: CutoutEngine, work: ImageWork, out_dir: Path
) -> CutOutcome:
    """Fetch every part, then restore, compose and name the files (composing runs on an image thread)."""
    if not parts:
        raise _result_error(engine, "NO_RESULT", "the answer had no result files")
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fetched: list[tuple[ResultPart, Path, str]] = []
    for index, part in enumerate(parts):
        staging = out_dir / f".result-{index}"
        if part.content is not None:
            staging.write_bytes(part.content)
        elif not part.url:
            raise _result_error(engine, "EMPTY_RESULT", "a result had no data")
        elif not staging.is_file():  # a file here was fetched whole before a restart: not fetched again
            await engine.fetch(part.url, staging)
        extension = _sniff(staging)
        if extension is None or (extension != "zip" and image_size(staging) is None):
            staging.unlink(missing_ok=True)
            raise _result_error(engine, "RESULT_NOT_AN_IMAGE", "a result file was not an image")
        fetched.append((part, staging, extension))
    files = await work.run(_finish_files, job, plan, fetched, out_dir, engine)
    original = plan.prepared.original_size if plan.prepared is not None else None
    result_size = next((size for f in files if (size := image_size(Path(f.path))) is not None), None)
    return CutOutcome(files, original, result_size, engine.name)


async def cut_file(
    source: Path, spec: Spec, engine: CutoutEngine, work: ImageWork, out_dir: Path
) -> CutOutcome:
    """One image file through every step at once, keeping no record (the local engine's benchmark and
    tests); the prepared copy goes into `out_dir` too."""
    job = Job(spec, source.name, source=source)
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    job_plan = await plan(job, engine, work, out_dir)
    parts = await call_engine(engine, job_plan, NoProgress())
    return await finish(job, job_plan, parts, engine, work, out_dir)


def _finish_files(
    job: Job, plan: Plan, fetched: list[tuple[ResultPart, Path, str]], out_dir: Path, engine: CutoutEngine
) -> list[ResultFile]:
    spec = job.spec
    stem = file_stem(job.name)
    needs_original = job.source is not None and (plan.restore or spec.mode is Mode.SEGMENT)
    original = load_original(job.source, name=job.name) if needs_original and job.source else None
    files: list[ResultFile] = []

    def keep(image: Image.Image | None, staging: Path, name_without_extension: str, title: str) -> None:
        if image is None:
            final = out_dir / f"{name_without_extension}.{_sniff(staging)}"
            staging.replace(final)
        else:
            extension = save_result(image, out_dir / ".composed")
            final = out_dir / f"{name_without_extension}.{extension}"
            (out_dir / ".composed").replace(final)
        files.append(ResultFile(path=str(final), name=final.name, title=title))

    for part, staging, extension in fetched:
        if extension == "zip":
            keep(None, staging, f"{stem}-segment-{PARTS_ROLE}", "subdivided garment masks (ZIP)")
            continue
        if spec.mode is Mode.SEGMENT:
            with Image.open(staging) as result:
                mask = mask_of(result)
            staging.unlink()
            if original is not None:
                mask = fit_mask(mask, original.size)
            if not has_subject(mask):
                continue  # a class that is not in the picture
            keep(mask, staging, f"{stem}-mask-{part.role}", f"{part.role} mask")
            if spec.cutouts and original is not None:
                keep(
                    compose(original, mask, Output.TRANSPARENT),
                    staging,
                    f"{stem}-cutout-{part.role}",
                    f"{part.role} cut-out",
                )
            continue
        base = result_base_name(stem, spec, part.role)
        if plan.restore and original is not None:
            with Image.open(staging) as result:
                mask = mask_of(result)
            staging.unlink()
            keep(compose(original, mask, spec.output), staging, base, result_title(spec, part.role))
        else:
            keep(None, staging, base, result_title(spec, part.role))
    if not files:
        raise VendorRejected(
            vendor=engine.name,
            code="EMPTY_MASKS",
            message="every class mask was empty",
            kind=ErrorKind.NO_SUBJECT,
        )
    return files


def file_stem(name: str) -> str:
    """A file name's stem made safe for result names: letters, digits, dot, dash, underscore."""
    stem = re.sub(r"[^\w.-]+", "-", Path(name).stem).strip("-._")
    return stem[:60] or "image"


def result_base_name(stem: str, spec: Spec, role: str) -> str:
    """`shirt-apparel-white` for the main result, `shirt-white-tops` for a class (extension added later)."""
    look = spec.output.value
    if role == MAIN_ROLE:
        return f"{stem}-{spec.mode}-{look}"
    return f"{stem}-{look}-{role}"


def result_title(spec: Spec, role: str) -> str:
    look = _LOOK_TITLES.get(spec.output.value, spec.output.value)
    if role == MAIN_ROLE:
        return f"{spec.mode}, {look}"
    return f"{role}, {look}"


def _result_error(engine: CutoutEngine, code: str, message: str) -> VendorRejected:
    return VendorRejected(vendor=engine.name, code=code, message=message, kind=ErrorKind.RESULT_MISSING)


def _sniff(path: Path) -> str | None:
    with open(path, "rb") as handle:
        head = handle.read(16)
    for magic, offset, extension in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return extension
    return None
