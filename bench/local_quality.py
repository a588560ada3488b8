"""How good and how fast the local engine is: on synthetic scenes whose true cut-out is known, and on real
photographs with human-made masks.

Every image goes through the same path as a user's — preparation, the local engine as the bot builds it
(the shipped U²-Net-p beside the classical engine), restoring the full size — on one core, asking for the
mask (in product mode, which has none, the transparent cut-out's alpha). Reported: mean IoU (mask at 0.5), mean absolute alpha error, seconds per megapixel of the original.

- Synthetic (fakes/scenes.py), per background kind, in `product` mode (the whole subject). Targets: IoU ≥ 0.99 on plain and
  graded backgrounds, ≤ 1 s per megapixel.
- Real (`--real DIR`, a folder laid out as ../shared/realset-dev: images/, masks/, masks_subject/,
  manifest.csv naming each file's category and mode), per category. The apparel masks are the garments
  only (the engine must leave the wearer out); `apparel (person)` scores the same cut-outs against the whole
  person. Also: how often the reply's "check the cut-out" note came with a bad cut-out (IoU < 0.85).
  Targets: mean IoU ≥ 0.88 over all, product ≥ 0.93, portrait ≥ 0.93, apparel ≥ 0.85. The photographs are
  for internal measurement only: they are read where they lie, never copied.

    python -m bench.local_quality                                  # synthetic; appends to bench/RESULTS.md
    python -m bench.local_quality --real ../shared/realset-dev     # synthetic and real
    python -m bench.local_quality --quick                          # fewer, smaller scenes (a smoke run)
"""

from __future__ import annotations

import asyncio
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from bench.results import append_result, benchmark_parser, machine
from bot.assembly import shipped_model
from bot.domain.grammar import parse_spec
from bot.engines.local.engine import LocalEngine
from bot.tasks.pipeline import CutOutcome, cut_file
from fakes.scenes import BACKGROUNDS, SUBJECTS, scene

SIZES = ((640, 480), (1280, 960), (2048, 1536))
TARGET_STUDIO_IOU = 0.99
TARGET_S_PER_MP = 1.0
TARGET_REAL_IOU = {"all": 0.88, "product": 0.93, "portrait": 0.93, "apparel": 0.85}
TARGET_PEAK_MB = 300  # for a 12-megapixel photo
PHOTO_12MP = (4000, 3000)
BAD_IOU = 0.85  # a cut-out below this should have come with the reply's note


@dataclass(frozen=True, slots=True)
class Scored:
    group: str
    iou: float
    mae: float
    s_per_mp: float
    noted: bool = False  # the reply said to check the cut-out
    megapixels: float = 0.0


def one_core() -> None:
    """Measure on one core, as the target says."""
    import cv2

    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def iou(alpha: np.ndarray, truth: np.ndarray) -> float:
    a, t = alpha >= 0.5, truth >= 0.5
    union = int((a | t).sum())
    return float((a & t).sum()) / union if union else 1.0


def read_alpha(path: Path) -> np.ndarray:
    """A mask's values, or a transparent cut-out's alpha, in [0, 1]."""
    with Image.open(path) as result:
        alpha = result.getchannel("A") if result.mode == "RGBA" else result.convert("L")
        return np.asarray(alpha, np.float32) / 255.0


def alpha_words(mode: str) -> str:
    """The spec that gives the subject's alpha in `mode` (product has no mask output: its transparency)."""
    return "product local" if mode == "product" else f"{mode} mask local"


async def timed_cut(source: Path, words: str, engine: LocalEngine, out: Path) -> tuple[CutOutcome, float]:
    started = time.perf_counter()
    outcome = await cut_file(source, parse_spec(words), engine, engine.image_work, out)
    return outcome, time.perf_counter() - started


async def measure_studio(engine: LocalEngine, sizes: tuple[tuple[int, int], ...], seeds: int) -> list[Scored]:
    scored = []
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        for background in BACKGROUNDS:
            for subject in SUBJECTS:
                for size in sizes:
                    for seed in range(seeds):
                        made = scene(subject, background, size, seed=seed)
                        source = folder / f"{subject}-{background}-{size[0]}-{seed}.png"
                        Image.fromarray(made.image).save(source)
                        outcome, seconds = await timed_cut(source, alpha_words("product"), engine, folder)
                        alpha = read_alpha(outcome.files[0].path)
                        megapixels = size[0] * size[1] / 1e6
                        scored.append(
                            Scored(
                                background,
                                iou(alpha, made.alpha),
                                float(np.abs(alpha - made.alpha).mean()),
                                seconds / megapixels,
                                megapixels=megapixels,
                            )
                        )
    return scored


async def measure_real(engine: LocalEngine, folder: Path) -> list[Scored]:
    """Each photograph of `folder` in its manifest's mode; apparel twice (garments, and the whole person)."""
    scored = []
    with (folder / "manifest.csv").open(newline="") as manifest, tempfile.TemporaryDirectory() as work:
        for row in csv.DictReader(manifest):
            source = folder / "images" / row["file"]
            stem = source.stem
            outcome, seconds = await timed_cut(source, alpha_words(row["mode"]), engine, Path(work))
            alpha = read_alpha(outcome.files[0].path)
            noted = any("check the cut-out" in note for note in outcome.notes)
            pixels = alpha.shape[0] * alpha.shape[1] / 1e6
            truths = [(row["category"], folder / "masks" / f"{stem}.png")]
            if (person := folder / "masks_subject" / f"{stem}.png").exists():
                truths.append((f"{row['category']} (person)", person))
            for group, path in truths:
                truth = read_alpha(path)
                scored.append(
                    Scored(
                        group, iou(alpha, truth), float(np.abs(alpha - truth).mean()), seconds / pixels, noted
                    )
                )
    return scored


def table(scored: list[Scored], groups: list[str], first: str) -> str:
    by_group: dict[str, list[Scored]] = defaultdict(list)
    for s in scored:
        by_group[s.group].append(s)
    lines = [
        f"| {first} | images | mean IoU | mean abs. alpha error | s / MP |",
        "| --- | --- | --- | --- | --- |",
    ]
    for group in groups:
        rows = by_group[group]
        lines.append(
            f"| {group} | {len(rows)} | {statistics.fmean(s.iou for s in rows):.3f} "
            f"| {statistics.fmean(s.mae for s in rows):.4f} | {statistics.fmean(s.s_per_mp for s in rows):.2f} |"
        )
    return "\n".join(lines)


def studio_report(scored: list[Scored]) -> tuple[str, bool]:
    speed = statistics.fmean(s.s_per_mp for s in scored)
    by_size = ", ".join(
        f"{size:.1f} MP {statistics.fmean(s.s_per_mp for s in scored if s.megapixels == size):.2f}"
        for size in sorted({s.megapixels for s in scored})
    )
    ok = speed <= TARGET_S_PER_MP and all(
        statistics.fmean(s.iou for s in scored if s.group == background) >= TARGET_STUDIO_IOU
        for background in ("plain", "graded")
    )
    text = (
        f"{table(scored, list(BACKGROUNDS), 'background')}\n\nSeconds per megapixel over all scenes: {speed:.2f} "
        f"(by size: {by_size}; the model's ~0.3 s a photo weighs most on small ones). "
        f"Targets (IoU ≥ {TARGET_STUDIO_IOU} on plain and graded, ≤ {TARGET_S_PER_MP} s/MP) met: "
        f"{'yes' if ok else 'no'}."
    )
    return text, ok


def real_report(scored: list[Scored]) -> tuple[str, bool]:
    main = [s for s in scored if "(" not in s.group]
    groups = sorted({s.group for s in scored}, key=lambda g: (g.split()[0], g))
    means = {"all": statistics.fmean(s.iou for s in main)} | {
        group: statistics.fmean(s.iou for s in main if s.group == group)
        for group in TARGET_REAL_IOU
        if any(s.group == group for s in main)
    }
    verdicts = [
        f"{group} {means[group]:.3f} (≥ {target}: {'met' if means[group] >= target else 'not met'})"
        for group, target in TARGET_REAL_IOU.items()
        if group in means
    ]
    bad = [s for s in main if s.iou < BAD_IOU]
    noted = [s for s in main if s.noted]
    text = (
        f"{table(scored, groups, 'category')}\n\nAll {len(main)} photographs: mean IoU {means['all']:.3f}, "
        f"mean abs. alpha error {statistics.fmean(s.mae for s in main):.4f}, "
        f"{statistics.fmean(s.s_per_mp for s in main):.2f} s/MP. Targets: {'; '.join(verdicts)}.\n"
        f"The reply's note (check the cut-out): on {len(noted)} photographs, {sum(s.iou < BAD_IOU for s in noted)} "
        f"of them below IoU {BAD_IOU}; {sum(s.noted for s in bad)} of the {len(bad)} photographs below "
        f"IoU {BAD_IOU} had it."
    )
    return text, all(means[group] >= target for group, target in TARGET_REAL_IOU.items() if group in means)


def measure_photo(mode: str) -> tuple[float, float]:
    """Peak memory (MB) and seconds of the command-line tool cutting one 12-megapixel photo in `mode` on the
    local engine, in a process of its own (pinned to one core like this one)."""
    made = scene("person", "busy", PHOTO_12MP, seed=1)
    with tempfile.TemporaryDirectory() as work:
        photo = Path(work) / "photo.jpg"
        Image.fromarray(made.image).save(photo, quality=92)
        # VmHWM, not getrusage: a child's ru_maxrss keeps the parent's peak from before the exec
        code = (
            "import sys, time\n"
            "from bot.__main__ import main\n"
            "started = time.perf_counter()\n"
            "code = main(sys.argv[1:])\n"
            "peak = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]\n"
            "print(time.perf_counter() - started, peak)\n"
            "sys.exit(code)"
        )
        done = subprocess.run(  # noqa: S603 - our interpreter, our module
            [
                sys.executable,
                "-c",
                code,
                "cutout",
                str(photo),
                mode,
                "local",
                "--out",
                str(Path(work) / "out"),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    seconds, peak_kb = done.stdout.split()[-2:]
    return int(peak_kb) / 1024, float(seconds)


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer, smaller scenes")
    parser.add_argument(
        "--real",
        type=Path,
        metavar="DIR",
        help="also the real photographs in DIR (e.g. ../shared/realset-dev)",
    )
    args = parser.parse_args()
    one_core()
    engine = LocalEngine(shipped=shipped_model())
    if engine.subject_model(parse_spec("product").mode) is None:
        print("note: the shipped model is not installed; measuring the classical engine alone")
    sizes = SIZES[:1] if args.quick else SIZES
    seeds = 1 if args.quick else 3
    studio, studio_ok = studio_report(asyncio.run(measure_studio(engine, sizes, seeds)))
    print(studio)
    body = (
        f"{machine()}, one core, {len(BACKGROUNDS) * len(SUBJECTS) * len(sizes) * seeds} synthetic scenes at "
        f"{', '.join(f'{w}×{h}' for w, h in sizes)}, `product local` (its alpha)\n\n{studio}"
    )
    photo_lines, photo_ok = [], True
    for mode in ("product", "portrait", "apparel"):
        peak, seconds = measure_photo(mode)
        photo_ok = photo_ok and peak <= TARGET_PEAK_MB
        photo_lines.append(f"{mode} {peak:.0f} MB, {seconds:.1f} s")
    photo = (
        f"One {PHOTO_12MP[0]}×{PHOTO_12MP[1]} photo (12 MP) through the command-line tool on the local engine, "
        f"peak memory of the whole process and its time: {'; '.join(photo_lines)} "
        f"(target ≤ {TARGET_PEAK_MB} MB: {'met' if photo_ok else 'not met'})."
    )
    print(f"\n{photo}")
    body += f"\n\n{photo}"
    real_ok = True
    if args.real is not None:
        if not (args.real / "manifest.csv").is_file():
            print(f"\nreal photographs: skipped, {args.real} has no manifest.csv (the folder is not here)")
        else:
            real, real_ok = real_report(asyncio.run(measure_real(engine, args.real)))
            print(f"\nReal photographs ({args.real.name}):\n{real}")
            body += f"\n\nReal photographs ({args.real.name}, each in its manifest's mode: `… mask local`, product's alpha):\n\n{real}"
    print(f"\ntargets met: {'yes' if studio_ok and real_ok and photo_ok else 'NO'}")
    if not args.no_record:
        append_result("Local engine quality", body)


if __name__ == "__main__":
    main()
