"""Ack latency: how fast the bot answers Slack while it is busy.

100 concurrent senders for 20 seconds against the real bot (HTTP mode), half sending `/cutout status`
and half `file_share` events for images with a spec (which queue real tasks: the vendor takes 300 ms a
call, 16 at once). Two shapes of load:

    open loop    each sender sends on its own clock (2 a second by default), whether or not earlier answers
                 came: how Slack sends, so queueing shows up in the latency (no coordinated omission).
                 100 senders × 2/s is 200 requests a second, 24× Slack's own Events API limit of about
                 8 events a second a workspace.
    closed loop  each sender sends its next request as soon as the last is answered: the saturation point.
                 Its latency is concurrency ÷ throughput (Little's law), so it measures capacity.

Reported: p50/p95/p99 of the HTTP response time per kind, and requests a second. Target: p99 < 50 ms
(open loop).

    python -m bench.ack_latency [--seconds 20] [--senders 100] [--rate 2]
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from bench.processes import bot, fakes
from bench.results import benchmark_parser, machine, publish
from bench.slack_load import command_body, event_body, percentiles, post
from fakes.images import png_bytes

TARGET_P99_MS = 50.0


async def measure(
    seconds: float, senders: int, rate: float | None, **settings: str
) -> dict[str, dict[str, float]]:
    """`rate`: requests a second per sender (open loop); None sends back to back (closed loop). `settings`:
    more of the bot's environment (e.g. `CUTOUT_DATABASE_URL`)."""
    settings = {"CUTOUT_WORKERS": "16", "AILAB_CONCURRENCY": "16", "CUTOUT_MAX_QUEUE": "100000", **settings}
    async with fakes(latency=0.3) as running, bot(running, **settings) as app:
        files = await running.host_files(png_bytes(320, 240), 1, "look.png", "image/png")
        events = [await running.message(files, "apparel", user=f"U{n:04d}") for n in range(200)]
        response_url = running.info["slack_api"].removesuffix("/api/") + "/respond/1"
        latencies: dict[str, list[float]] = {"command": [], "event": []}
        statuses: dict[int, int] = {}
        deadline = time.monotonic() + seconds

        async def one(kind: str, number: int, sent: int, session: aiohttp.ClientSession) -> None:
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

        async def sender(number: int, session: aiohttp.ClientSession) -> None:
            kind = "command" if number % 2 else "event"
            sent = 0
            if rate is None:
                while time.monotonic() < deadline:
                    await one(kind, number, sent, session)
                    sent += 1
                return
            await asyncio.sleep(number / senders / rate)  # spread the senders over one interval
            pending = []
            while time.monotonic() < deadline:
                pending.append(asyncio.create_task(one(kind, number, sent, session)))
                sent += 1
                await asyncio.sleep(1 / rate)
            await asyncio.gather(*pending)

        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            started = time.monotonic()
            await asyncio.gather(*(sender(n, session) for n in range(senders)))
            elapsed = time.monotonic() - started
        stats = await running.stats()
    results: dict[str, dict[str, float]] = {}
    for kind, values in latencies.items():
        results[kind] = {**percentiles(values), "count": len(values), "per_s": len(values) / elapsed}
    results["_"] = {
        "non_200": sum(n for s, n in statuses.items() if s != 200),
        "results_posted": stats["results_posted"],
    }
    return results


def table(results: dict[str, dict[str, float]]) -> str:
    lines = [
        "| request | p50 ms | p95 ms | p99 ms | requests | per second |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for kind in ("command", "event"):
        r = results[kind]
        lines.append(
            f"| {kind} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | {r['count']:.0f} | {r['per_s']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--senders", type=int, default=100)
    parser.add_argument(
        "--rate", type=float, default=2.0, help="requests a second per sender in the open loop"
    )
    args = parser.parse_args()
    open_loop = asyncio.run(measure(args.seconds, args.senders, args.rate))
    closed_loop = asyncio.run(measure(args.seconds, args.senders, None))
    worst = max(open_loop[k]["p99"] for k in ("command", "event"))
    verdict = f"open-loop p99 {worst:.1f} ms (target < {TARGET_P99_MS:.0f} ms): {'met' if worst < TARGET_P99_MS else 'MISSED'}"
    capacity = sum(closed_loop[k]["per_s"] for k in ("command", "event"))
    body = (
        f"{machine()}; {args.senders} concurrent senders for {args.seconds:.0f} s, half `/cutout status`, half "
        f"`file_share` events with a spec (real tasks, vendor latency 300 ms); the bot, the fakes and the load "
        f"generator share the machine\n\n"
        f"Open loop, {args.rate:g} requests a second per sender ({args.rate * args.senders:.0f}/s):\n\n{table(open_loop)}\n\n"
        f"Closed loop (back to back, saturation):\n\n{table(closed_loop)}\n\n"
        f"{verdict}. Saturation throughput {capacity:.0f} requests a second. Non-200 answers: "
        f"{open_loop['_']['non_200'] + closed_loop['_']['non_200']:.0f}."
    )
    publish("Ack latency", body, record=not args.no_record)


if __name__ == "__main__":
    main()
