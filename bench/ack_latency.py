"""Ack latency: how fast the bot answers Slack while it is busy.

100 concurrent senders for 20 seconds against the real bot (HTTP mode), half sending `/cutout status`
and half `file_share` events for images with a spec (which queue real tasks: the vendor takes 300 ms a
call, 16 at once). Reported: p50/p95/p99 of the HTTP response time for each, and requests a second.
Target: p99 < 50 ms.

    python -m bench.ack_latency [--seconds 20] [--senders 100]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp

from bench.processes import bot, fakes
from bench.results import append_result, machine
from bench.slack_load import command_body, event_body, percentiles, post
from tests.images import png_bytes

TARGET_P99_MS = 50.0


async def measure(seconds: float, senders: int) -> dict[str, dict[str, float]]:
    async with (
        fakes(latency=0.3) as running,
        bot(running, CUTOUT_WORKERS="16", AILAB_CONCURRENCY="16", CUTOUT_MAX_QUEUE="100000") as app,
    ):
        files = await running.host_files(png_bytes(320, 240), 1, "look.png", "image/png")
        events = [await running.message(files, "apparel", user=f"U{n:04d}") for n in range(200)]
        response_url = running.info["slack_api"].removesuffix("/api/") + "/respond/1"
        latencies: dict[str, list[float]] = {"command": [], "event": []}
        statuses: dict[int, int] = {}
        deadline = time.monotonic() + seconds

        async def sender(number: int, session: aiohttp.ClientSession) -> None:
            kind = "command" if number % 2 else "event"
            sent = 0
            while time.monotonic() < deadline:
                if kind == "command":
                    body, content_type = (
                        command_body("status", response_url),
                        "application/x-www-form-urlencoded",
                    )
                else:
                    event = events[(number * 7919 + sent) % len(events)]
                    body, content_type = event_body(event), "application/json"
                status, took = await post(session, app.url, body, content_type, app.signing_secret)
                statuses[status] = statuses.get(status, 0) + 1
                latencies[kind].append(took)
                sent += 1

        connector = aiohttp.TCPConnector(limit=senders)
        async with aiohttp.ClientSession(connector=connector) as session:
            started = time.monotonic()
            await asyncio.gather(*(sender(n, session) for n in range(senders)))
            elapsed = time.monotonic() - started
        stats = await running.stats()
    results = {}
    for kind, values in latencies.items():
        results[kind] = {**percentiles(values), "count": len(values), "per_s": len(values) / elapsed}
    results["_"] = {
        "non_200": sum(n for s, n in statuses.items() if s != 200),
        "results_posted": stats["results_posted"],
    }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--senders", type=int, default=100)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    results = asyncio.run(measure(args.seconds, args.senders))
    lines = [
        "| request | p50 ms | p95 ms | p99 ms | requests | per second |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for kind in ("command", "event"):
        r = results[kind]
        lines.append(
            f"| {kind} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | {r['count']:.0f} | {r['per_s']:.0f} |"
        )
    worst = max(results[k]["p99"] for k in ("command", "event"))
    table = "\n".join(lines)
    verdict = f"p99 {worst:.1f} ms (target < {TARGET_P99_MS:.0f} ms): {'met' if worst < TARGET_P99_MS else 'MISSED'}"
    extra = f"non-200 answers: {results['_']['non_200']:.0f}; results posted meanwhile: {results['_']['results_posted']:.0f}"
    print(table, verdict, extra, sep="\n")
    if not args.no_record:
        append_result(
            "Ack latency",
            f"{machine()}; {args.senders} concurrent senders for {args.seconds:.0f} s (half `/cutout status`, half "
            f"`file_share` events with a spec); vendor latency 300 ms\n\n{table}\n\n{verdict}. {extra}.",
        )


if __name__ == "__main__":
    main()
