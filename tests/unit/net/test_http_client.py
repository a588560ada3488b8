"""The bot's httpx clients (httpx over aiohttp): bodies, streaming, timeouts, failures named for what they
are, proxies from the environment, and injected transports — against real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from aiohttp import web

from bot.net.client import http_client
from fakes.net import LocalServer

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _raw_server(handler: Handler) -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def echo_server() -> AsyncIterator[LocalServer]:
    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response(
            {
                "method": request.method,
                "length": len(body),
                "type": request.content_type,
                "path": request.path_qs,
            }
        )

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=bytes(range(256)) * 4096, content_type="application/octet-stream")

    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/big", big)
    server = LocalServer(app)
    await server.start()
    yield server
    await server.stop()


async def test_requests_carry_bodies_and_multipart(echo_server: LocalServer) -> None:
    async with http_client(base_url=echo_server.url, timeout=5) as client:
        sent = await client.post(
            "/echo", files={"image": ("a.png", b"x" * 1000, "image/png")}, data={"k": "v"}
        )
        assert sent.status_code == 200
        assert sent.json()["type"] == "multipart/form-data"
        assert sent.json()["length"] > 1000
        query = await client.get("/echo", params={"a": "1 2"})
        assert query.json() == {
            "method": "GET",
            "length": 0,
            "type": "application/octet-stream",
            "path": "/echo?a=1+2",
        }


async def test_responses_stream_in_full(echo_server: LocalServer) -> None:
    async with http_client(timeout=5) as client, client.stream("GET", f"{echo_server.url}/big") as response:
        received = b"".join([chunk async for chunk in response.aiter_bytes(64 * 1024)])
    assert received == bytes(range(256)) * 4096


async def test_a_refused_connection_is_a_connect_error_not_a_timeout() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    async with http_client(timeout=2) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/")


@pytest.mark.parametrize("hang_up", ["close", "reset"])
async def test_a_server_that_hangs_up_is_a_transport_error_not_a_timeout(hang_up: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        if hang_up == "reset":
            writer.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
        writer.close()

    async for port in _raw_server(handler):
        async with http_client(timeout=2) as client:
            with pytest.raises(httpx.TransportError) as caught:
                await client.get(f"http://127.0.0.1:{port}/")
        assert not isinstance(caught.value, httpx.TimeoutException)


async def test_a_server_that_never_answers_times_out_on_read() -> None:
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    async for port in _raw_server(handler):
        async with http_client(timeout=httpx.Timeout(0.3, connect=2)) as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.get(f"http://127.0.0.1:{port}/")
        release.set()


async def test_proxies_from_the_environment_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readline())
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\nvia proxy")
        await writer.drain()
        writer.close()

    async for port in _raw_server(proxy):
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with http_client(timeout=2) as client:
            response = await client.get("http://files.example.invalid/a.png")
    assert response.text == "via proxy"
    assert seen == [b"GET http://files.example.invalid/a.png HTTP/1.1\r\n"]


async def test_an_injected_transport_is_used_as_given() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(418, text=request.url.path)

    async with http_client(transport=httpx.MockTransport(answer)) as client:
        response = await client.get("http://vendor.invalid/cut")
    assert (response.status_code, response.text) == (418, "/cut")
