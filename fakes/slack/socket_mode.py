"""Socket Mode: `apps.connections.open` (with the app token) gives a local websocket; the fake says hello,
pushes envelopes to the bot and waits for their acks."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
from aiohttp import web

from fakes.slack.core import SlackCore, ok


class SocketMode(SlackCore):
    async def _m_apps_connections_open(self, params: dict[str, Any]) -> web.Response:
        return ok(url=f"ws://127.0.0.1:{self._server.port}/link")

    async def socket_send(
        self,
        envelope: dict[str, Any],
        *,
        timeout: float = 10.0,  # noqa: ASYNC109 (a deadline for the ack)
    ) -> dict[str, Any]:
        """Push an envelope to the connected bot and wait for its ack."""
        await asyncio.wait_for(self._socket_connected.wait(), timeout)
        before = len(self.socket_acks)
        await self._sockets[-1].send_str(json.dumps(envelope))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for ack in self.socket_acks[before:]:
                if ack.get("envelope_id") == envelope["envelope_id"]:
                    return ack
            await asyncio.sleep(0.02)
        raise AssertionError(f"no ack for envelope {envelope['envelope_id']}")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1, "debug_info": {"host": "fake"}}))
        self._socket_connected.set()
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                self.socket_acks.append(json.loads(message.data))
        return ws
