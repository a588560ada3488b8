"""Memory: the bot's resident set with 200 photos of about 8 MB each in flight.

Each photo is a 4000×3000 JPEG (~7.9 MB) dropped with `apparel`: AILabTools takes at most 2999 pixels a
side, so every image is decoded, scaled down, re-encoded for the vendor, and its result composed again at
the full 4000×3000 — the most memory one task can ask for. The vendor (fake AILabTools) takes 1 s a call,
so the 200 tasks pile up: queued, waiting on the vendor, finishing.

    baseline     the bot started and idle
    warm         after a first round of images (thread pools, imports, caches all made)
    peak         the most the process ever held (VmHWM): target < 250 MB
    after        once every result is posted and the bot is idle again: should be back near `warm`
    growth       what a further round of images left behind, per image: should be about nothing

    python -m bench.memory [--images 200] [--again 100] [--workers 32] [--vendor-concurrency 16]
                           [--image-threads N]
"""

from __future__ import annotations

import asyncio
import io

import numpy as np
from PIL import Image

from bench.processes import bot, fakes
from bench.results import benchmark_parser, machine, publish
from bench.slack_load import send_uploads, wait_for_results

TARGET_PEAK_MB = 250.0
WARM_UP_IMAGES = 16
SETTLE_S = 3.0


def photo_bytes(width: int = 4000, height: int = 3000, *, seed: int = 1) -> bytes:
    """A JPEG that weighs what a camera photo does: smooth colour under sensor-like noise (~7.9 MB)."""
    rng = np.random.default_rng(seed)
    base = Image.fromarray(rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8))
    smooth = np.asarray(base.resize((width, height), Image.Resampling.BICUBIC), dtype=np.int16)
    noisy = np.clip(smooth + rng.normal(0, 18, (height, width, 3)), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(noisy).save(out, "JPEG", quality=92)
    return out.getvalue()


async def measure(
    images: int, again: int, workers: int, vendor_concurrency: int, image_threads: int | None
) -> dict[str, float]:
    photo = photo_bytes()
    settings = {
        "CUTOUT_WORKERS": str(workers),
        "AILAB_CONCURRENCY": str(vendor_concurrency),
        "CUTOUT_MAX_QUEUE": "100000",
    }
    if image_threads is not None:
        settings["CUTOUT_IMAGE_THREADS"] = str(image_threads)
    async with fakes(latency=1.0) as running, bot(running, **settings) as app:
        await asyncio.sleep(SETTLE_S)
        baseline, _ = app.memory_mb()
        await send_uploads(
            running, app.url, app.signing_secret, WARM_UP_IMAGES, "apparel", image=photo, name="p.jpg"
        )
        await wait_for_results(running, WARM_UP_IMAGES, timeout_s=300)
        await asyncio.sleep(SETTLE_S)
        warm, _ = app.memory_mb()
        highest = 0.0

        async def watch() -> None:
            nonlocal highest
            while True:
                highest = max(highest, app.memory_mb()[0])
                await asyncio.sleep(0.05)

        watcher = asyncio.create_task(watch())
        started = await send_uploads(
            running, app.url, app.signing_secret, images, "apparel", image=photo, name="p.jpg"
        )
        finished = await wait_for_results(running, WARM_UP_IMAGES + images, timeout_s=1800)
        await asyncio.sleep(SETTLE_S)
        after, _ = app.memory_mb()
        await send_uploads(running, app.url, app.signing_secret, again, "apparel", image=photo, name="p.jpg")
        await wait_for_results(running, WARM_UP_IMAGES + images + again, timeout_s=1800)
        await asyncio.sleep(SETTLE_S)
        watcher.cancel()
        after_again, peak = app.memory_mb()
    return {
        "images": images,
        "again": again,
        "photo_mb": len(photo) / 1e6,
        "baseline": baseline,
        "warm": warm,
        "peak": max(peak, highest),
        "after": after,
        "after_again": after_again,
        "growth_kb_per_image": (after_again - after) * 1024 / max(1, again),
        "seconds": finished - started,
    }


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--vendor-concurrency", type=int, default=16)
    parser.add_argument("--again", type=int, default=100, help="images in the round that measures growth")
    parser.add_argument(
        "--image-threads", type=int, default=None, help="CUTOUT_IMAGE_THREADS (the bot's default)"
    )
    args = parser.parse_args()
    result = asyncio.run(
        measure(args.images, args.again, args.workers, args.vendor_concurrency, args.image_threads)
    )
    ok = result["peak"] < TARGET_PEAK_MB
    threads = args.image_threads or "default"
    body = (
        f"{machine()}; {result['images']:.0f} photos of 4000×3000, {result['photo_mb']:.1f} MB each, `apparel` "
        f"(scaled down for the vendor, composed again at full size); {args.workers} workers, "
        f"{args.vendor_concurrency} vendor calls at once, vendor latency 1 s, image threads: {threads}\n\n"
        "| baseline MB | warm MB | peak MB | after MB | after another round MB | growth per image | run s |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n"
        f"| {result['baseline']:.0f} | {result['warm']:.0f} | {result['peak']:.0f} | {result['after']:.0f} | "
        f"{result['after_again']:.0f} | {result['growth_kb_per_image']:+.1f} KB | {result['seconds']:.1f} |\n\n"
        f"Target peak < {TARGET_PEAK_MB:.0f} MB: {'met' if ok else 'MISSED'}; {result['images'] / result['seconds']:.2f} "
        f"photos a second; growth measured over a further {result['again']:.0f} photos."
    )
    publish("Memory", body, record=not args.no_record)


if __name__ == "__main__":
    main()
