"""Throughput against the vendor's bound: is the bot's own cost invisible next to the vendor's latency?

500 images through the whole path — `file_share` event → download from the fake Slack → prepare → the
fake vendor (300 ms a call, 16 at once) → download the result → upload into the thread. The vendor alone
needs 500 × 0.3 / 16 s: the bound. Reported: the measured time and bound ÷ measured (target ≥ 0.9).

Then PicWish at its 2 requests a second: every create and poll passes the bot's rate limiter, and the
fake answers 429 past 2 requests in any second. Reported: the request rate reached and the 429s (target 0).

    python -m bench.throughput [--images 500] [--picwish-images 30]
"""

from __future__ import annotations

import asyncio

from bench.processes import bot, fakes
from bench.results import benchmark_parser, machine, publish
from bench.slack_load import send_uploads, wait_for_results
from fakes.images import png_bytes

LATENCY_S = 0.3
CONCURRENCY = 16
TARGET_RATIO = 0.9


async def vendor_bound(images: int) -> dict[str, float]:
    async with fakes(latency=LATENCY_S) as running:
        settings = {
            "CUTOUT_WORKERS": str(2 * CONCURRENCY),
            "AILAB_CONCURRENCY": str(CONCURRENCY),
            "CUTOUT_MAX_QUEUE": "100000",
        }
        async with bot(running, **settings) as app:
            started = await send_uploads(
                running, app.url, app.signing_secret, images, "apparel", image=png_bytes(320, 240)
            )
            finished = await wait_for_results(running, images, timeout_s=300)
            stats = await running.stats()
    measured = finished - started
    bound = images * LATENCY_S / CONCURRENCY
    return {
        "images": images,
        "bound_s": bound,
        "measured_s": measured,
        "ratio": bound / measured,
        "vendor_calls": stats["ailab_calls"],
    }


async def picwish_rate(images: int) -> dict[str, float]:
    settings = {"CUTOUT_WORKERS": "8", "PICWISH_QPS": "2", "CUTOUT_MAX_QUEUE": "100000"}
    async with fakes(latency=0.0, picwish_qps=2.0) as running, bot(running, **settings) as app:
        started = await send_uploads(
            running, app.url, app.signing_secret, images, "segment", image=png_bytes(320, 240)
        )
        finished = await wait_for_results(running, images, timeout_s=600)
        stats = await running.stats()
    requests = stats["picwish_created"] + stats["picwish_polls"]
    return {
        "images": images,
        "requests": requests,
        "seconds": finished - started,
        "rate": requests / (finished - started),
        "throttled": stats["picwish_429"],
    }


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--picwish-images", type=int, default=30)
    args = parser.parse_args()
    bound = asyncio.run(vendor_bound(args.images))
    rate = asyncio.run(picwish_rate(args.picwish_images))
    ok = bound["ratio"] >= TARGET_RATIO
    body = (
        f"{machine()}; vendor latency {LATENCY_S * 1000:.0f} ms, {CONCURRENCY} calls at once\n\n"
        "| run | images | bound s | measured s | bound ÷ measured |\n| --- | --- | --- | --- | --- |\n"
        f"| AILabTools, whole path | {bound['images']:.0f} | {bound['bound_s']:.2f} | {bound['measured_s']:.2f} | "
        f"{bound['ratio']:.2f} |\n\n"
        f"Target ratio ≥ {TARGET_RATIO}: {'met' if ok else 'MISSED'} ({bound['vendor_calls']:.0f} vendor calls for "
        f"{bound['images']:.0f} images).\n\n"
        f"PicWish at 2 requests a second: {rate['images']:.0f} images, {rate['requests']:.0f} requests (create + polls) "
        f"in {rate['seconds']:.1f} s = {rate['rate']:.2f} requests a second; 429 answers: {rate['throttled']:.0f} "
        f"(target 0: {'met' if rate['throttled'] == 0 else 'MISSED'})."
    )
    publish("Throughput", body, record=not args.no_record)


if __name__ == "__main__":
    main()
