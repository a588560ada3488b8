"""One image through one engine: plan → cut (or resume) → finish the results into named files.

Used by the task runner, for Slack and for the command-line tool alike.

Full resolution: when the image had to be downscaled for the engine, the engine is asked for the output
that carries the subject's alpha (`engine.alpha_output`: a mask, or transparency) and the look the user
asked for (transparent, white, mask, crop) is composed here from the original pixels and that alpha,
scaled back up smoothly. Segmentation masks are always fitted to the original's size. A product result
at a `WIDTHxHEIGHT` target size is the exception: the user asked for that size.

Listing images: a spec with a layout (a marketplace preset or its options) is always restored from the
alpha, then laid out for the listing (`bot.imaging.listing.lay_out`), with its compliance report; in
`segment` mode the classes found, together. A check (`spec.check`) is measured as it was posted: no
preparation, no cut; its outcome is the report and no files.

Vendor results pass the checks inputs pass (bot.imaging: documented formats only, at most MAX_PIXELS,
they decode) and keep none of the original's metadata: a file kept as the vendor sent it is re-encoded
when it carries any (`clean_result`). An answer may carry at most MAX_RESULT_PARTS files and a parts ZIP
at most MAX_PARTS_ZIP_ENTRIES entries (bot.engines.vendors.limits). A result that fails a check fails the task as
the vendor's (VendorRejected).
"""

from __future__ import annotations

import dataclasses
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops

from bot.domain.failures import ErrorKind, VendorError, VendorRejected
from bot.domain.grammar import Mode, Output, Spec
from bot.domain.listing import PRESETS, ComplianceReport, Layout
from bot.domain.tasks import ResultFile
from bot.engines.base import (
    MAIN_ROLE,
    PARTS_ROLE,
    CutoutEngine,
    CutProgress,
    ImageInput,
    ImageURL,
    NoProgress,
    ResultPart,
)
from bot.engines.check import REPORT_ROLE
from bot.engines.registry import engine_spec
from bot.engines.vendors.limits import MAX_PARTS_ZIP_ENTRIES, MAX_RESULT_PARTS
from bot.imaging.compose import clean_result, compose, fit_mask, has_subject, mask_of, save_result
from bot.imaging.decode import ImageError, image_size, load_original, open_result, sniff_file
from bot.imaging.listing import ListingImage, lay_out
from bot.imaging.prepare import PreparedImage, prepare_image
from bot.imaging.threads import ImageWork

# what an image check's refusal is called when the file is a vendor's result
_RESULT_CODES = {
    "IMAGE_TOO_MANY_PIXELS": "RESULT_TOO_MANY_PIXELS",
    "IMAGE_FORMAT_NOT_TAKEN": "RESULT_FORMAT_NOT_TAKEN",
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
    notes: tuple[str, ...] = ()  # what the engine (or the listing layout) said the user should know
    compliance: ComplianceReport | None = None  # a listing result's report, or a check's


async def plan(job: Job, engine: CutoutEngine, work: ImageWork, workdir: Path) -> Plan:
    """Decide what the engine receives; a re-encoded image is written into `workdir`. Preparing decodes
    the image: it runs on an image thread."""
    alpha = engine.alpha_output(job.spec)
    listing = job.spec.layout is not None and alpha is not None and job.spec.mode is not Mode.SEGMENT
    if job.url is not None and engine.accepts_urls:
        vendor_spec = dataclasses.replace(job.spec, output=alpha) if listing and alpha else job.spec
        return Plan(ImageURL(job.url), vendor_spec, restore=listing, prepared=None)
    assert job.source is not None, "a job without a URL the engine takes needs the image on disk"
    if job.spec.check is not None:  # measured as it was posted: not converted, not scaled
        return Plan(await work.run(_as_posted, job.source, job.name), job.spec, restore=False, prepared=None)
    asked = engine_spec(engine.name, job.spec)
    prepared = await work.run(
        prepare_image, job.source, engine.limits(asked), name=job.name, out=workdir / "prepared"
    )
    if asked is not job.spec:  # another kind of answer (masks for an apparel request): composed from them
        return Plan(prepared, asked, restore=True, prepared=prepared)
    restore = (prepared.downscaled or listing) and alpha is not None and job.spec.mode is not Mode.SEGMENT
    vendor_spec = dataclasses.replace(job.spec, output=alpha) if restore and alpha is not None else job.spec
    return Plan(prepared, vendor_spec, restore, prepared)


def _as_posted(source: Path, name: str) -> PreparedImage:
    """The file itself, for a check: its size read from the header (nothing decoded)."""
    size = image_size(source) or (0, 0)
    return PreparedImage(source, source.stat().st_size, name, "application/octet-stream", size, size)


async def call_engine(
    engine: CutoutEngine, plan: Plan, progress: CutProgress, *, vendor_task_id: str | None = None
) -> list[ResultPart]:
    """Cut (or resume an accepted job); a vendor's size complaint gets the sizes we sent added, and an
    answer with more than MAX_RESULT_PARTS files is refused before anything of it is kept."""
    try:
        if vendor_task_id is not None:
            parts = await engine.resume(vendor_task_id, plan.vendor_spec, progress)
        else:
            parts = await engine.cut(plan.image, plan.vendor_spec, progress)
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
    _check_count(engine, parts)
    return parts


async def finish(
    job: Job, plan: Plan, parts: list[ResultPart], engine: CutoutEngine, work: ImageWork, out_dir: Path
) -> CutOutcome:
    """Fetch every part, then check, restore, compose and name the files (on an image thread)."""
    if not parts:
        raise _result_error(
            engine, "NO_RESULT", "the answer had no result files", kind=ErrorKind.RESULT_MISSING
        )
    _check_count(engine, parts)
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fetched: list[tuple[ResultPart, Path]] = []
    for index, part in enumerate(parts):
        staging = out_dir / f".result-{index}"
        if part.content is not None:
            staging.write_bytes(part.content)
        elif not part.url:
            raise _result_error(engine, "EMPTY_RESULT", "a result had no data", kind=ErrorKind.RESULT_MISSING)
        elif not staging.is_file():  # a file here was fetched whole before a restart: not fetched again
            await engine.fetch(part.url, staging)
        fetched.append((part, staging))
    if job.spec.check is not None:
        return _checked(job, fetched, engine)
    files, listing = await work.run(_finish_files, job, plan, fetched, out_dir, engine)
    original = plan.prepared.original_size if plan.prepared is not None else None
    result_size = next((size for f in files if (size := image_size(Path(f.path))) is not None), None)
    notes = tuple(part.note for part, _ in fetched if part.note) + (listing.notes if listing else ())
    return CutOutcome(files, original, result_size, engine.name, notes, listing.report if listing else None)


def _checked(job: Job, fetched: list[tuple[ResultPart, Path]], engine: CutoutEngine) -> CutOutcome:
    """A check's outcome: no files, its report."""
    report = next(
        (
            found
            for part, staging in fetched
            if part.role == REPORT_ROLE and (found := ComplianceReport.from_json(staging.read_bytes()))
        ),
        None,
    )
    for _, staging in fetched:
        staging.unlink(missing_ok=True)
    if report is None:
        raise _result_error(engine, "NO_REPORT", "the check made no report", kind=ErrorKind.RESULT_MISSING)
    size = image_size(job.source) if job.source else None
    return CutOutcome([], size, None, engine.name, compliance=report)


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
    job: Job, plan: Plan, fetched: list[tuple[ResultPart, Path]], out_dir: Path, engine: CutoutEngine
) -> tuple[list[ResultFile], ListingImage | None]:
    spec = job.spec
    stem = file_stem(job.name)
    needs_original = job.source is not None and (plan.restore or spec.mode is Mode.SEGMENT)
    original = load_original(job.source, name=job.name) if needs_original and job.source else None
    files: list[ResultFile] = []
    listing: ListingImage | None = None
    segment_union: Image.Image | None = None

    def keep_file(staging: Path, extension: str, name_without_extension: str, title: str) -> None:
        final = out_dir / f"{name_without_extension}.{extension}"
        staging.replace(final)
        files.append(ResultFile(path=str(final), name=final.name, title=title))

    def keep(image: Image.Image, name_without_extension: str, title: str) -> None:
        composed = out_dir / ".composed"
        keep_file(composed, save_result(image, composed), name_without_extension, title)

    def keep_listing(original: Image.Image, mask: Image.Image, layout: Layout) -> ListingImage:
        made = lay_out(original, fit_mask(mask, original.size), layout)
        staging = out_dir / ".listing"
        staging.write_bytes(made.data)
        keep_file(staging, made.extension, listing_name(stem, layout), listing_title(layout))
        return made

    if plan.vendor_spec.mode is Mode.SEGMENT and spec.mode is not Mode.SEGMENT and original is not None:
        # masks for another mode's request (PicWish's clothing for apparel): together, they are the subject
        mask = _union_of_masks(engine, fetched, original.size)
        if spec.layout is not None:
            listing = keep_listing(original, mask, spec.layout)
        else:
            keep(
                compose(original, mask, spec.output),
                result_base_name(stem, spec, MAIN_ROLE),
                result_title(spec, MAIN_ROLE),
            )
        fetched = []
    for part, staging in fetched:
        if part.role == PARTS_ROLE:
            _check_parts_zip(engine, staging)
            keep_file(staging, "zip", f"{stem}-segment-{PARTS_ROLE}", "subdivided garment masks (ZIP)")
            continue
        if spec.mode is Mode.SEGMENT:
            mask = _result_mask(engine, staging)
            if original is not None:
                mask = fit_mask(mask, original.size)
            if not has_subject(mask):
                continue  # a class that is not in the picture
            segment_union = mask if segment_union is None else ImageChops.lighter(segment_union, mask)
            keep(mask, f"{stem}-mask-{part.role}", f"{part.role} mask")
            if spec.cutouts and original is not None:
                keep(
                    compose(original, mask, Output.TRANSPARENT),
                    f"{stem}-cutout-{part.role}",
                    f"{part.role} cut-out",
                )
            continue
        base = result_base_name(stem, spec, part.role)
        if plan.restore and original is not None:
            mask = _result_mask(engine, staging)
            if spec.layout is not None and part.role == MAIN_ROLE:
                listing = keep_listing(original, mask, spec.layout)
            else:
                keep(compose(original, mask, spec.output), base, result_title(spec, part.role))
        else:
            keep_file(staging, _cleaned(engine, staging), base, result_title(spec, part.role))
    if spec.layout is not None and segment_union is not None and original is not None:
        listing = keep_listing(
            original, segment_union, spec.layout
        )  # the outfit: every class found, together
    if not files:
        raise _no_subject(engine)
    return files, listing


def _union_of_masks(
    engine: CutoutEngine, fetched: list[tuple[ResultPart, Path]], size: tuple[int, int]
) -> Image.Image:
    """Every class mask of the answer together, at `size` (a parts ZIP is left out)."""
    union = Image.new("L", size, 0)
    for part, staging in fetched:
        if part.role == PARTS_ROLE:
            staging.unlink(missing_ok=True)
            continue
        union = ImageChops.lighter(union, fit_mask(_result_mask(engine, staging), size))
    if not has_subject(union):
        raise _no_subject(engine)
    return union


def _no_subject(engine: CutoutEngine) -> VendorRejected:
    return VendorRejected(
        vendor=engine.name,
        code="EMPTY_MASKS",
        message="every class mask was empty",
        kind=ErrorKind.NO_SUBJECT,
    )


def _result_mask(engine: CutoutEngine, staging: Path) -> Image.Image:
    """The mask a result file carries (checked as an input is); the file is removed once read."""
    try:
        with open_result(staging) as result:
            mask = mask_of(result)
    except ImageError as error:
        staging.unlink(missing_ok=True)
        raise _refused_result(engine, error) from None
    staging.unlink()
    return mask


def _cleaned(engine: CutoutEngine, staging: Path) -> str:
    """A result file kept as the vendor sent it: checked as an input is and cleared of metadata; returns
    its extension."""
    try:
        return clean_result(staging)
    except ImageError as error:
        staging.unlink(missing_ok=True)
        raise _refused_result(engine, error) from None


def _check_parts_zip(engine: CutoutEngine, staging: Path) -> None:
    """The parts ZIP is passed on unopened; its directory must read and list at most MAX_PARTS_ZIP_ENTRIES."""
    kind = sniff_file(staging)
    try:
        if kind is None or kind.extension != "zip":
            raise zipfile.BadZipFile
        with zipfile.ZipFile(staging) as archive:
            entries = sum(1 for entry in archive.infolist() if not entry.is_dir())
    except (zipfile.BadZipFile, OSError, ValueError):
        staging.unlink(missing_ok=True)
        raise _result_error(engine, "RESULT_NOT_A_ZIP", "the parts file was not a ZIP archive") from None
    if entries > MAX_PARTS_ZIP_ENTRIES:
        staging.unlink(missing_ok=True)
        raise _result_error(
            engine,
            "TOO_MANY_PARTS",
            f"{engine.name} sent {entries} part masks in its ZIP; the bot takes at most {MAX_PARTS_ZIP_ENTRIES}",
        )


def _check_count(engine: CutoutEngine, parts: list[ResultPart]) -> None:
    if len(parts) > MAX_RESULT_PARTS:
        raise _result_error(
            engine,
            "TOO_MANY_RESULTS",
            f"{engine.name} sent {len(parts)} result files; the bot takes at most {MAX_RESULT_PARTS}",
        )


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


def listing_name(stem: str, layout: Layout) -> str:
    """`shirt-amazon`, or `shirt-listing` for a layout without a preset."""
    return f"{stem}-{layout.preset.value if layout.preset else 'listing'}"


def listing_title(layout: Layout) -> str:
    return f"{PRESETS[layout.preset].title} main image" if layout.preset else "listing image"


def result_title(spec: Spec, role: str) -> str:
    look = spec.output.description
    if role == MAIN_ROLE:
        return f"{spec.mode}, {look}"
    return f"{role}, {look}"


def _result_error(
    engine: CutoutEngine, code: str, message: str, *, kind: ErrorKind = ErrorKind.RESULT_REFUSED
) -> VendorRejected:
    return VendorRejected(vendor=engine.name, code=code, message=message, kind=kind)


def _refused_result(engine: CutoutEngine, error: ImageError) -> VendorRejected:
    """A result file that failed an image check, as the vendor's failure (its message says "a result file")."""
    return _result_error(engine, _RESULT_CODES.get(error.code, "RESULT_NOT_AN_IMAGE"), error.message)
