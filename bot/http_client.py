"""The httpx clients the bot makes: httpx's API, with aiohttp underneath.

Every vendor client, Slack file download and image URL fetch goes through an `httpx.AsyncClient` made
here. httpx's own connection pool (httpcore on anyio) polls every pooled socket and enters several cancel
scopes on every request; under load that was the largest part of the bot's own CPU (the throughput
benchmark: 35% less CPU on the event loop, bound ÷ measured 0.85 → 0.92). httpx-aiohttp keeps the httpx
interface — requests, streaming, timeouts, `MockTransport` in tests, proxies from the environment — and
sends the bytes with aiohttp, which the Slack SDK uses already.

Timeouts map onto aiohttp's: `connect` → socket connect, `read` → each socket read, `pool` → waiting for
a connection. httpx's `write` timeout has no aiohttp counterpart; a stalled upload ends at the next read.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport, HttpxAiohttpClient


class _Transport(AiohttpTransport):
    """httpx-aiohttp's transport, naming connection failures for what they are: it maps every aiohttp
    connection error to `ConnectTimeout`, which would tell the user a vendor timed out when it refused the
    connection or hung up."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except httpx.ConnectTimeout as error:
            cause = error.__cause__
            if isinstance(cause, TimeoutError) or not isinstance(cause, aiohttp.ClientConnectionError):
                raise
            kind = type(cause).__name__
            if isinstance(cause, aiohttp.ClientConnectorError):
                raise httpx.ConnectError(f"could not connect ({kind})") from cause
            if isinstance(cause, aiohttp.ServerDisconnectedError):
                raise httpx.RemoteProtocolError(
                    "the server closed the connection without answering"
                ) from cause
            raise httpx.ReadError(f"the connection failed ({kind})") from cause


class _Client(HttpxAiohttpClient):
    """httpx-aiohttp's client with the transport above, for direct connections and proxies alike."""

    def _init_transport(  # type: ignore[override]
        self, *, transport: httpx.AsyncBaseTransport | None = None, **options: Any
    ) -> httpx.AsyncBaseTransport:
        return transport if transport is not None else _Transport(**options)

    def _init_proxy_transport(  # type: ignore[override]
        self, proxy: httpx.Proxy, **options: Any
    ) -> httpx.AsyncBaseTransport:
        return _Transport(proxy=proxy, **options)


def http_client(**options: Any) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` (same arguments) whose requests go out through aiohttp."""
    return _Client(**options)
