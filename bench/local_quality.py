"""How good and how fast the local engine is, on scenes whose true cut-out is known.

Each scene (bench/scenes.py) goes through the same path as a user's image — preparation, the local engine,
restoring the full size — on one core, asking for the mask. Reported per background kind: mean IoU (mask
at 0.5), mean absolute alpha error, and seconds per megapixel of the original image. Targets: IoU ≥ 0.95
on plain and graded backgrounds, ≤ 1 s per megapixel.

    python -m bench.local_quality            # the full run; appends a row to bench/RESULTS.md
    python -m bench.local_quality --quick    # fewer, smaller scenes (a smoke run)
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from bench.results import append_result, benchmark_parser, machine
from bot.domain.grammar import parse_spec
from bot.engines.local.engine import LocalEngine
from bot.tasks.pipeline import cut_file
from fakes.scenes import BACKGROUNDS, SUBJECTS, scene

SIZES = ((640, 480), (1280, 960), (2048, 1536))
TARGET_IOU = 0.95
TARGET_S_PER_MP = 1.0


def one_core() -> None:
    """Measure on one core, as the target says."""
    import cv2

    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


async def measure(sizes: tuple[tuple[int, int], ...], seeds: int) -> dict[str, dict[str, float]]:
    engine = LocalEngine()
    spec = parse_spec("apparel mask local")
    found: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        for background in BACKGROUNDS:
            for subject in SUBJECTS:
                for size in sizes:
                    for seed in range(seeds):
                        made = scene(subject, background, size, seed=seed)
                        source = folder / f"{subject}-{background}-{size[0]}-{seed}.png"
                        Image.fromarray(made.image).save(source)
                        started = time.perf_counter()
                        result = await cut_file(source, spec, engine, engine.image_work, folder)
                        seconds = time.perf_counter() - started
                        with Image.open(result.files[0].path) as mask:
                            alpha = np.asarray(mask.convert("L"), np.float32) / 255.0
                        truth = made.alpha
                        union = np.logical_or(alpha >= 0.5, truth >= 0.5).sum()
                        iou = (
                            float(np.logical_and(alpha >= 0.5, truth >= 0.5).sum() / union) if union else 1.0
                        )
                        found[background]["iou"].append(iou)
                        found[background]["mae"].append(float(np.abs(alpha - truth).mean()))
                        found[background]["s_per_mp"].append(seconds / (size[0] * size[1] / 1e6))
    return {
        background: {name: statistics.fmean(values) for name, values in metrics.items()}
        for background, metrics in found.items()
    }


def report(results: dict[str, dict[str, float]]) -> tuple[str, bool]:
    lines = ["| background | mean IoU | mean abs. alpha error | s / MP |", "| --- | --- | --- | --- |"]
    ok = True
    for background in BACKGROUNDS:
        r = results[background]
        lines.append(f"| {background} | {r['iou']:.3f} | {r['mae']:.4f} | {r['s_per_mp']:.2f} |")
        if background in ("plain", "graded") and r["iou"] < TARGET_IOU:
            ok = False
    speed = statistics.fmean(r["s_per_mp"] for r in results.values())
    ok = ok and speed <= TARGET_S_PER_MP
    return "\n".join(lines), ok


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer, smaller scenes")
    args = parser.parse_args()
    one_core()
    sizes = SIZES[:1] if args.quick else SIZES
    seeds = 1 if args.quick else 3
    results = asyncio.run(measure(sizes, seeds))
    table, ok = report(results)
    speed = statistics.fmean(r["s_per_mp"] for r in results.values())
    print(table)
    print(f"\nseconds per megapixel, all scenes: {speed:.2f} (target ≤ {TARGET_S_PER_MP})")
    print(f"targets met: {'yes' if ok else 'NO'}")
    if not args.no_record:
        scenes = len(BACKGROUNDS) * len(SUBJECTS) * len(sizes) * seeds
        append_result(
            "Local engine quality",
            f"{machine()}, one core, {scenes} scenes at {', '.join(f'{w}×{h}' for w, h in sizes)}\n\n{table}\n\n"
            f"Seconds per megapixel over all scenes: {speed:.2f}. Targets (IoU ≥ {TARGET_IOU} on plain and graded, "
            f"≤ {TARGET_S_PER_MP} s/MP) met: {'yes' if ok else 'no'}.",
        )


if __name__ == "__main__":
    main()
