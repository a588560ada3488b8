"""The fake Slack's core: the workspace's state, its two servers (Slack's own, and the other origin remote
files live on), the Web API door (bearer token, 429s, holds, then `_m_<method>`), and the signed door to
the bot. Each part of Slack is a mixin of `SlackCore` in a module of its own; `FakeSlack` joins them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Self

import aiohttp
from aiohttp import web

from fakes.faults import Hold
from fakes.net import LocalServer
from fakes.slack.records import Call, FileMessage, HostedFile, Message, Posted, Upload


def ok(**fields: Any) -> web.Response:
    return web.json_response({"ok": True, **fields})


def error(code: str) -> web.Response:
    return web.json_response({"ok": False, "error": code})


def require(params: dict[str, Any], *names: str) -> web.Response | None:
    if any(not params.get(name) for name in names):
        return error("invalid_arguments")
    return None


@dataclass
class SlackCore:
    """The state every part shares, the servers, and the two doors. Fields are the constructor's."""

    bot_token: str = "xoxb-test-bot-token-0000"  # a fake's  # noqa: S105
    app_token: str = "xapp-1-test-app-token-0000"  # a fake's  # noqa: S105
    signing_secret: str = "f00dfacecafe0123456789abcdef0000"  # a fake's  # noqa: S105
    files_readable: bool = True  # False: the bot lacks files:read, downloads get the login page
    calls: list[Call] = field(default_factory=list)
    messages: list[Posted] = field(default_factory=list)
    ephemerals: list[Posted] = field(default_factory=list)
    file_messages: list[FileMessage] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    reactions: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    reaction_log: list[tuple[str, str, str, str]] = field(default_factory=list)  # (op, channel, ts, name)
    downloads: list[tuple[str, bool]] = field(default_factory=list)  # (file id, authorised)
    socket_acks: list[dict[str, Any]] = field(default_factory=list)
    rate_limit_next: dict[str, int] = field(default_factory=dict)  # method → how many 429s to answer
    refuse: dict[str, str] = field(default_factory=dict)  # method → the error it answers (not_in_channel…)
    # users.info's answer: None = the app lacks users:read (Slack answers missing_scope); else user id → its
    # admin flags (is_admin, is_owner, is_primary_owner), members not named being plain members
    members: dict[str, dict[str, bool]] | None = None
    upload_failures: list[int] = field(default_factory=list)  # HTTP statuses the next upload POSTs answer
    upload_posts: list[tuple[str, bool]] = field(default_factory=list)  # (file id, carried a token) per POST
    holds: dict[str, Hold] = field(default_factory=dict)  # method (or "download") → held before it acts
    holds_after: dict[str, Hold] = field(
        default_factory=dict
    )  # method → held after it acted, before answering
    remote_requests: list[tuple[str, bool]] = field(default_factory=list)  # (path, carried a token)

    def __post_init__(self) -> None:
        self.history: list[Message] = []  # every message in every channel, oldest first
        self.updates: list[tuple[str, str]] = []  # (ts, new text) of every chat.update
        self.views: dict[str, dict[str, Any]] = {}  # open modals by view id
        self.opened_views: list[str] = []
        self.home_views: dict[str, dict[str, Any]] = {}  # the App Home published for each user
        self._triggers: set[str] = set()
        self._files: dict[str, HostedFile] = {}
        self._uploads: dict[str, Upload] = {}
        self._roots: dict[tuple[str, str], str | None] = {}  # (channel, ts) → parent ts for replies
        self._ids = itertools.count(1)
        self._ts = itertools.count(1)
        self._sockets: list[web.WebSocketResponse] = []
        self._socket_connected = asyncio.Event()
        app = web.Application(client_max_size=200 * 1024 * 1024)
        remote = web.Application()
        self._add_routes(app, remote)
        self._server = LocalServer(app)
        self._remote_server = LocalServer(remote)  # another origin: where remote files live

    def _add_routes(self, app: web.Application, remote: web.Application) -> None:
        """Slack's URLs on `app`, the remote files' origin on `remote`: `FakeSlack` lists them."""
        raise NotImplementedError

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> Self:
        await self._server.start()
        await self._remote_server.start()
        return self

    def hold(self, method: str, *, after: bool = False) -> Hold:
        """Hold calls to `method` ("download" for file downloads) until released."""
        hold = Hold()
        hold.arm()
        (self.holds_after if after else self.holds)[method] = hold
        return hold

    async def stop(self) -> None:
        for hold in (*self.holds.values(), *self.holds_after.values()):
            hold.release()
        for ws in self._sockets:
            await ws.close()
        await self._server.stop()
        await self._remote_server.stop()

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def new_ts(self) -> str:
        return f"{1_700_000_000 + next(self._ts)}.{next(self._ids):06d}"

    # --- what tests read ----------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    # --- the Web API: every method call comes through here -------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.can_read_body:
            params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        self.calls.append(Call(method, params))
        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if request.headers.get("Authorization") != f"Bearer {expected}":
            return error("invalid_auth")
        if self.rate_limit_next.get(method, 0) > 0:
            self.rate_limit_next[method] -= 1
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "1"}
            )
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return error("unknown_method")
        if method in self.refuse:
            return error(self.refuse[method])
        if method in self.holds:
            await self.holds[method].wait()
            if request.transport is None or request.transport.is_closing():
                return error("client_gone")  # the caller died while held: Slack never acted on it
        answer = await handler(params)
        if method in self.holds_after:
            await self.holds_after[method].wait()  # acted on, but the caller may never see the answer
        return answer

    def _check_thread(self, channel: str, thread_ts: str | None) -> web.Response | None:
        if thread_ts is None:
            return None
        if (channel, thread_ts) not in self._roots:
            return error("thread_not_found")
        if self._roots[(channel, thread_ts)] is not None:
            return error("invalid_thread_ts")  # a reply's ts: Slack says to use the parent's
        return None

    # --- sending to the bot, signed as Slack signs ---------------------------------------------

    def sign(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        base = b"v0:" + stamp.encode() + b":" + body
        signature = "v0=" + hmac.new(self.signing_secret.encode(), base, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}

    async def _send(
        self, bot_url: str, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> int:
        status, _ = await self._send_for_body(bot_url, body, content_type, headers)
        return status

    async def _send_for_body(
        self, bot_url: str, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        all_headers = {"Content-Type": content_type, **self.sign(body), **(headers or {})}
        async with (
            aiohttp.ClientSession() as session,
            session.post(bot_url, data=body, headers=all_headers) as reply,
        ):
            return reply.status, await reply.read()
