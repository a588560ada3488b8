"""The fake Slack and vendors in a process of their own, for benchmarks, with a small control API.

    python -m bench.fakes_server --vendor-latency 0.3 [--picwish-qps 2]

Prints one JSON line (addresses, tokens, the control URL), then serves until killed. Control API:

    POST /files?count=N&name=a.jpg&mimetype=image/jpeg   body: the bytes   → the file objects (data shared)
    POST /message   {"files": [...], "text": "...", "channel": "...", "user": "..."}   → the file_share event
    GET  /stats     counters: results posted, vendor calls, 429s, …
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal

from aiohttp import web

from fakes.aidge import FakeAidge
from fakes.ailab import FakeAILab
from fakes.net import LocalServer
from fakes.picwish import FakePicWish
from fakes.slack import FakeSlack


async def serve(latency: float, picwish_qps: float) -> None:
    slack = await FakeSlack().start()
    ailab = await FakeAILab(latency_s=latency, quick_results=True).start()
    aidge = await FakeAidge().start()
    picwish = await FakePicWish(qps=picwish_qps, latency_s=latency, quick_results=True, states=(2, 1)).start()

    async def files(request: web.Request) -> web.Response:
        data = await request.read()
        count = int(request.query.get("count", "1"))
        name, mimetype = request.query.get("name", "image.jpg"), request.query.get("mimetype", "image/jpeg")
        return web.json_response([slack.host_file(name, data, mimetype) for _ in range(count)])

    async def message(request: web.Request) -> web.Response:
        body = await request.json()
        event = slack.image_message(
            body["files"],
            text=body.get("text", ""),
            user=body.get("user", "U0BENCH"),
            channel=body.get("channel", "C0BENCH"),
        )
        return web.json_response(event)

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "results_posted": len(slack.file_messages),
                "messages": len(slack.messages),
                "ephemerals": len(slack.ephemerals),
                "responses": len(slack.responses),
                "slack_calls": len(slack.calls),
                "ailab_calls": len(ailab.requests),
                "ailab_in_flight": ailab.calls_in_flight,
                "ailab_most_in_flight": ailab.most_in_flight,
                "ailab_most_at_once": ailab.most_at_once,
                "picwish_created": len(picwish.created),
                "picwish_polls": len(picwish.polls),
                "picwish_429": picwish.throttled,
            }
        )

    control = web.Application(client_max_size=64 * 1024 * 1024)
    control.router.add_post("/files", files)
    control.router.add_post("/message", message)
    control.router.add_get("/stats", stats)
    control_server = LocalServer(control)
    await control_server.start()
    print(
        json.dumps(
            {
                "control": control_server.url,
                "slack_api": slack.api_url,
                "bot_token": slack.bot_token,
                "signing_secret": slack.signing_secret,
                "ailab": ailab.url,
                "ailab_key": ailab.api_key,
                "aidge": aidge.base_url,
                "aidge_key": aidge.app_key,
                "aidge_secret": aidge.app_secret,
                "picwish": picwish.url,
                "picwish_key": picwish.api_key,
            }
        ),
        flush=True,
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vendor-latency", type=float, default=0.3)
    parser.add_argument("--picwish-qps", type=float, default=2.0)
    args = parser.parse_args()
    asyncio.run(serve(args.vendor_latency, args.picwish_qps))


if __name__ == "__main__":
    main()
