"""A plain web server on 127.0.0.1 for image URLs: images, an HTML page, redirects."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from tests.fakes.net import LocalServer


@dataclass
class FakeWeb:
    requests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._pages: dict[str, tuple[bytes, str]] = {}
        self._redirects: dict[str, str] = {}
        app = web.Application()
        app.router.add_get("/{path:.*}", self._get)
        self._server = LocalServer(app)

    async def start(self) -> FakeWeb:
        await self._server.start()
        return self

    async def stop(self) -> None:
        await self._server.stop()

    def add(self, path: str, data: bytes, content_type: str) -> str:
        self._pages[path.lstrip("/")] = (data, content_type)
        return f"{self._server.url}/{path.lstrip('/')}"

    def redirect(self, path: str, to: str) -> str:
        self._redirects[path.lstrip("/")] = to
        return f"{self._server.url}/{path.lstrip('/')}"

    async def _get(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        self.requests.append(path)
        if path in self._redirects:
            raise web.HTTPFound(self._redirects[path])
        if path not in self._pages:
            return web.Response(status=404, text="not found")
        data, content_type = self._pages[path]
        return web.Response(body=data, content_type=content_type)
