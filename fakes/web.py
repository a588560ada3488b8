"""A plain web server on 127.0.0.1 for image URLs: images, an HTML page, redirects, and pages that
trickle (a byte at a time, for download deadlines)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web

from fakes.net import LocalServer


@dataclass
class FakeWeb:
    requests: list[str] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)  # the query string of each request, as it arrived
    trickles_cut: list[str] = field(default_factory=list)  # trickled pages the client hung up on

    def __post_init__(self) -> None:
        self._pages: dict[str, tuple[bytes, str]] = {}
        self._redirects: dict[str, str] = {}
        self._trickles: dict[str, float] = {}
        app = web.Application()
        app.router.add_get("/{path:.*}", self._get)
        self._server = LocalServer(app)

    @property
    def url(self) -> str:
        return self._server.url

    async def start(self) -> FakeWeb:
        await self._server.start()
        return self

    async def stop(self) -> None:
        await self._server.stop()

    def add(self, path: str, data: bytes, content_type: str) -> str:
        self._pages[path.lstrip("/")] = (data, content_type)
        return f"{self._server.url}/{path.lstrip('/')}"

    def trickle(self, path: str, data: bytes, content_type: str, *, every_s: float) -> str:
        """Serve `data` (its full Content-Length announced) one byte every `every_s` seconds."""
        self._trickles[path.lstrip("/")] = every_s
        return self.add(path, data, content_type)

    def redirect(self, path: str, to: str) -> str:
        self._redirects[path.lstrip("/")] = to
        return f"{self._server.url}/{path.lstrip('/')}"

    async def _get(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        self.requests.append(path)
        self.queries.append(request.query_string)
        if path in self._redirects:
            raise web.HTTPFound(self._redirects[path])
        if path not in self._pages:
            return web.Response(status=404, text="not found")
        data, content_type = self._pages[path]
        if path in self._trickles:
            return await self._trickle(request, path, data, content_type)
        return web.Response(body=data, content_type=content_type)

    async def _trickle(
        self, request: web.Request, path: str, data: bytes, content_type: str
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": content_type})
        response.content_length = len(data)
        await response.prepare(request)
        try:
            for index in range(len(data)):
                await response.write(data[index : index + 1])
                await asyncio.sleep(self._trickles[path])
        except ConnectionError:
            self.trickles_cut.append(path)
            return response
        await response.write_eof()
        return response
