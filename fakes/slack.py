"""A fake Slack that holds the bot to Slack's contracts, on 127.0.0.1.

It serves the Web API methods the bot uses (bearer token checked on every call; parameters read from
the query string, form and JSON body as real Slack does), private file downloads (bearer token or a
302 to the login page), the upload URLs of `files.getUploadURLExternal`, `response_url`s, and Socket
Mode (`apps.connections.open` → a local websocket). It also sends signed requests to the bot, as Slack
does in HTTP mode.

Files come in the shapes Slack gives: hosted (`mode: hosted`), remote (`mode: external`, kept in Google
Drive or Dropbox: `url_private` points at another origin, served by `remote`, which records whether a
token came with a request), and Slack Connect stubs (`file_access: check_file_info`, resolved only by
`files.info`). A hosted file can be served trickling, a byte at a time.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from fakes.faults import Hold
from fakes.net import LocalServer

TEAM_ID = "T0TEST"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
APP_ID = "A0CUTOUT"


@dataclass
class HostedFile:
    file_id: str
    name: str
    mimetype: str
    data: bytes
    content_type: str = ""  # what the download answers with; defaults to the mimetype
    shares: list[tuple[str, str, str | None]] = field(default_factory=list)  # (channel, ts, thread_ts)
    external_type: str | None = None  # a remote file: "gdrive", "dropbox"… (served by the remote origin)
    trickle_s: float | None = None  # served a byte every this many seconds

    def object(self, base: str, remote_base: str = "") -> dict[str, Any]:
        described = {
            "id": self.file_id,
            "name": self.name,
            "title": self.name,
            "mimetype": self.mimetype,
            "filetype": self.name.rsplit(".", 1)[-1],
        }
        if self.external_type:  # Slack only links to it: no size, a URL on the service's own host
            url = f"{remote_base}/remote/{self.file_id}/{self.name}"
            return {
                **described,
                "mode": "external",
                "is_external": True,
                "external_type": self.external_type,
                "url_private": url,
                "url_private_download": url,
            }
        url = f"{base}/files-pri/{TEAM_ID}-{self.file_id}/{self.name}"
        return {
            **described,
            "size": len(self.data),
            "mode": "hosted",
            "url_private": url,
            "url_private_download": url + "?download=1",
        }


@dataclass
class Upload:
    file_id: str
    filename: str
    length: int
    data: bytes | None = None


@dataclass
class FileMessage:
    """What `files.completeUploadExternal` shared: one message with its files."""

    channel: str
    thread_ts: str | None
    initial_comment: str  # the comment, or the text of the message's blocks
    files: list[Upload]
    ts: str = ""
    blocks: list[dict[str, Any]] | None = None


@dataclass
class Posted:
    channel: str
    text: str
    thread_ts: str | None
    user: str | None = None  # for ephemeral messages
    ts: str = ""
    blocks: list[dict[str, Any]] | None = None


@dataclass
class Message:
    """A message in a channel as Slack keeps it, for the history and thread methods."""

    channel: str
    ts: str
    user: str
    text: str
    thread_ts: str | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    bot_id: str | None = None
    blocks: list[dict[str, Any]] | None = None

    def as_slack(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": "message", "ts": self.ts, "user": self.user, "text": self.text}
        if self.thread_ts:
            body["thread_ts"] = self.thread_ts
        if self.files:
            body["files"] = self.files
        if self.bot_id:
            body["bot_id"] = self.bot_id
        if self.blocks:
            body["blocks"] = self.blocks
        return body


@dataclass
class Call:
    method: str
    params: dict[str, Any]


@dataclass
class FakeSlack:
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
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_get("/files-pri/{team_file}/{name}", self._download)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/respond/{n}", self._respond)
        app.router.add_get("/link", self._socket)
        self._server = LocalServer(app)
        remote = web.Application()
        remote.router.add_get("/remote/{file_id}/{name}", self._remote)
        self._remote_server = LocalServer(remote)  # another origin: where remote files live

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> FakeSlack:
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

    # --- what tests set up --------------------------------------------------------------------

    def host_file(
        self,
        name: str,
        data: bytes,
        mimetype: str = "image/jpeg",
        *,
        content_type: str = "",
        trickle_s: float | None = None,
    ) -> dict:
        hosted = HostedFile(
            f"F{next(self._ids):06d}", name, mimetype, data, content_type, trickle_s=trickle_s
        )
        self._files[hosted.file_id] = hosted
        return hosted.object(self.url)

    def remote_file(self, name: str, data: bytes, *, external_type: str = "gdrive") -> dict:
        """A file kept outside Slack (Google Drive, Dropbox…), shared into Slack: its URL is on another origin."""
        remote = HostedFile(f"F{next(self._ids):06d}", name, "image/jpeg", data, external_type=external_type)
        self._files[remote.file_id] = remote
        return remote.object(self.url, self._remote_server.url)

    def connect_stub(self, name: str, data: bytes, mimetype: str = "image/jpeg") -> dict:
        """A file shared from a Slack Connect partner: the event carries only a stub; `files.info` has the rest."""
        hosted = self.host_file(name, data, mimetype)
        return {"id": hosted["id"], "mode": "file_access", "file_access": "check_file_info"}

    def new_ts(self) -> str:
        return f"{1_700_000_000 + next(self._ts)}.{next(self._ids):06d}"

    def image_message(
        self,
        files: list[dict],
        *,
        text: str = "",
        user: str = "U0ALICE",
        channel: str = "C0GENERAL",
        channel_type: str = "channel",
        thread_ts: str | None = None,
    ) -> dict[str, Any]:
        """A `message`/`file_share` event for files a user just posted (and the message it made)."""
        ts = self.new_ts()
        self._roots[(channel, ts)] = thread_ts
        event: dict[str, Any] = {
            "type": "message",
            "subtype": "file_share",
            "text": text,
            "user": user,
            "channel": channel,
            "channel_type": channel_type,
            "ts": ts,
            "event_ts": ts,
            "files": files,
            "upload": False,
            "display_as_bot": False,
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        self.history.append(Message(channel, ts, user, text, thread_ts, files))
        for file in files:
            if file["id"] in self._files:
                self._files[file["id"]].shares.append((channel, ts, thread_ts))
        return event

    # --- what tests read ----------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def reactions_on(self, channel: str, ts: str) -> set[str]:
        return set(self.reactions.get((channel, ts), set()))

    def in_thread(self, channel: str, thread_ts: str) -> list[Posted | FileMessage]:
        posted: list[Posted | FileMessage] = [
            m for m in self.messages if (m.channel, m.thread_ts) == (channel, thread_ts)
        ]
        posted += [m for m in self.file_messages if (m.channel, m.thread_ts) == (channel, thread_ts)]
        return posted

    # --- sending to the bot, signed as Slack signs ---------------------------------------------

    def sign(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        base = b"v0:" + stamp.encode() + b":" + body
        signature = "v0=" + hmac.new(self.signing_secret.encode(), base, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}

    def event_envelope(self, event: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
        return {
            "token": "legacy-verification-token",
            "team_id": TEAM_ID,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(self._ids):08d}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}],
        }

    def command_payload(
        self, text: str, *, user: str = "U0ALICE", channel: str = "C0GENERAL"
    ) -> dict[str, str]:
        return {
            "token": "legacy-verification-token",
            "team_id": TEAM_ID,
            "team_domain": "fake",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/cutout",
            "text": text,
            "api_app_id": APP_ID,
            "response_url": f"{self.url}/respond/{next(self._ids)}",
            "trigger_id": f"{next(self._ids)}.trigger",
        }

    async def send_event(
        self,
        bot_url: str,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
    ) -> int:
        """Deliver an event as Slack does; `retry_num` adds the headers of a redelivery."""
        body = json.dumps(self.event_envelope(event, event_id=event_id)).encode()
        headers = (
            {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
            if retry_num
            else None
        )
        return await self._send(bot_url, body, "application/json", headers)

    def file_shared_event(self, message_event: dict[str, Any], file: dict[str, Any]) -> dict[str, Any]:
        """The `file_shared` event Slack also sends for a file of an uploaded message."""
        return {
            "type": "file_shared",
            "channel_id": message_event["channel"],
            "file_id": file["id"],
            "user_id": message_event["user"],
            "file": {"id": file["id"]},
            "event_ts": self.new_ts(),
        }

    async def send_command(
        self, bot_url: str, text: str, *, user: str = "U0ALICE", channel: str = "C0GENERAL"
    ) -> int:
        body = urlencode(self.command_payload(text, user=user, channel=channel)).encode()
        return await self._send(bot_url, body, "application/x-www-form-urlencoded")

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

    # --- interactivity ----------------------------------------------------------------------------

    def new_trigger(self) -> str:
        trigger = f"{next(self._ids)}.{next(self._ids)}.trigger"
        self._triggers.add(trigger)
        return trigger

    async def send_interaction(
        self, bot_url: str, payload: dict[str, Any]
    ) -> tuple[int, dict[str, Any] | None]:
        """POST an interaction payload (form field `payload`, signed); returns the status and any JSON answer."""
        body = urlencode({"payload": json.dumps(payload)}).encode()
        status, answer = await self._send_for_body(bot_url, body, "application/x-www-form-urlencoded")
        try:
            return status, json.loads(answer) if answer else None
        except ValueError:
            return status, None

    def _base_payload(self, kind: str, user: str) -> dict[str, Any]:
        return {
            "type": kind,
            "token": "legacy-verification-token",
            "team": {"id": TEAM_ID, "domain": "fake"},
            "user": {"id": user, "username": user.lower(), "team_id": TEAM_ID},
            "api_app_id": APP_ID,
            "trigger_id": self.new_trigger(),
        }

    def message_of(self, event: dict[str, Any]) -> dict[str, Any]:
        """The message an event describes, as interaction payloads carry it."""
        keys = ("type", "user", "text", "ts", "thread_ts", "files", "upload")
        return {k: event[k] for k in keys if k in event}

    async def send_shortcut(
        self, bot_url: str, event: dict[str, Any], *, user: str = "U0ALICE"
    ) -> tuple[int, str]:
        """The message shortcut "Cut out image" on the message of `event`; returns the status and trigger id."""
        payload = {
            **self._base_payload("message_action", user),
            "callback_id": "cutout_message",
            "channel": {"id": event["channel"], "name": "general"},
            "message": self.message_of(event),
            "message_ts": event["ts"],
            "response_url": f"{self.url}/respond/{next(self._ids)}",
        }
        status, _ = await self.send_interaction(bot_url, payload)
        return status, payload["trigger_id"]

    async def click(
        self, bot_url: str, message: Posted | FileMessage, action_id: str, *, user: str = "U0ALICE"
    ) -> int:
        """Click a button of a message the bot posted."""
        button, block_id = _find_element(message.blocks or [], action_id)
        payload = {
            **self._base_payload("block_actions", user),
            "container": {
                "type": "message",
                "message_ts": message.ts,
                "channel_id": message.channel,
                "is_ephemeral": False,
            },
            "channel": {"id": message.channel, "name": "general"},
            "message": {
                "type": "message",
                "ts": message.ts,
                "thread_ts": message.thread_ts,
                "blocks": message.blocks,
            },
            "response_url": f"{self.url}/respond/{next(self._ids)}",
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": block_id,
                    "value": button.get("value"),
                    "text": button["text"],
                    "action_ts": str(time.time()),
                }
            ],
        }
        status, _ = await self.send_interaction(bot_url, payload)
        return status

    async def choose_in_view(
        self, bot_url: str, view_id: str, action_id: str, value: str, *, user: str = "U0ALICE"
    ) -> int:
        """Pick an option of a select in an open modal (a `block_actions` from a view)."""
        view = self.views[view_id]
        element, block_id = _find_element(view["blocks"], action_id)
        option = next(o for o in element["options"] if o["value"] == value)
        payload = {
            **self._base_payload("block_actions", user),
            "container": {"type": "view", "view_id": view_id},
            "view": view,
            "actions": [
                {
                    "type": element["type"],
                    "action_id": action_id,
                    "block_id": block_id,
                    "selected_option": option,
                }
            ],
        }
        status, _ = await self.send_interaction(bot_url, payload)
        return status

    async def submit_view(
        self,
        bot_url: str,
        view_id: str,
        values: dict[str, dict[str, dict[str, Any]]],
        *,
        user: str = "U0ALICE",
    ) -> tuple[int, dict[str, Any] | None]:
        """Submit an open modal with these state values (block id → action id → value)."""
        view = {**self.views[view_id], "state": {"values": values}}
        payload = {**self._base_payload("view_submission", user), "view": view, "response_urls": []}
        return await self.send_interaction(bot_url, payload)

    async def open_home(self, bot_url: str, user: str = "U0ALICE") -> int:
        return await self.send_event(
            bot_url,
            {
                "type": "app_home_opened",
                "user": user,
                "channel": "D0HOME",
                "tab": "home",
                "event_ts": self.new_ts(),
            },
        )

    # --- Socket Mode ------------------------------------------------------------------------------

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

    # --- HTTP handlers ----------------------------------------------------------------------------

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
            return _error("invalid_auth")
        if self.rate_limit_next.get(method, 0) > 0:
            self.rate_limit_next[method] -= 1
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "1"}
            )
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return _error("unknown_method")
        if method in self.holds:
            await self.holds[method].wait()
            if request.transport is None or request.transport.is_closing():
                return _error("client_gone")  # the caller died while held: Slack never acted on it
        answer = await handler(params)
        if method in self.holds_after:
            await self.holds_after[method].wait()  # acted on, but the caller may never see the answer
        return answer

    async def _m_auth_test(self, params: dict[str, Any]) -> web.Response:
        return _ok(
            url="https://fake.slack.test/",
            team="Fake",
            user="cutout",
            team_id=TEAM_ID,
            user_id=BOT_USER_ID,
            bot_id=BOT_ID,
        )

    async def _m_apps_connections_open(self, params: dict[str, Any]) -> web.Response:
        return _ok(url=f"ws://127.0.0.1:{self._server.port}/link")

    async def _m_chat_postMessage(self, params: dict[str, Any]) -> web.Response:
        if missing := _missing(params, "channel"):
            return missing
        if not params.get("text") and not params.get("blocks"):
            return _error("no_text")
        thread_ts = params.get("thread_ts")
        if problem := self._check_thread(params["channel"], thread_ts):
            return problem
        blocks = _blocks(params.get("blocks"))
        if blocks is False:
            return _error("invalid_blocks")
        ts = self.new_ts()
        self._roots[(params["channel"], ts)] = thread_ts
        self.messages.append(
            Posted(params["channel"], params.get("text", ""), thread_ts, ts=ts, blocks=blocks)
        )
        self.history.append(
            Message(
                params["channel"],
                ts,
                BOT_USER_ID,
                params.get("text", ""),
                thread_ts,
                bot_id=BOT_ID,
                blocks=blocks,
            )
        )
        return _ok(channel=params["channel"], ts=ts)

    async def _m_chat_update(self, params: dict[str, Any]) -> web.Response:
        if missing := _missing(params, "channel", "ts"):
            return missing
        for posted in self.messages:
            if (posted.channel, posted.ts) == (params["channel"], params["ts"]):
                posted.text = params.get("text", posted.text)
                self.updates.append((posted.ts, posted.text))
                return _ok(channel=posted.channel, ts=posted.ts, text=posted.text)
        return _error("message_not_found")

    async def _m_views_open(self, params: dict[str, Any]) -> web.Response:
        if missing := _missing(params, "trigger_id", "view"):
            return missing
        if params["trigger_id"] not in self._triggers:
            return _error("invalid_trigger_id")
        self._triggers.discard(params["trigger_id"])  # a trigger opens one view
        view = _view(params["view"])
        if view is None:
            return _error("invalid_arguments")
        view_id = f"V{next(self._ids):06d}"
        view.update({"id": view_id, "hash": f"h{next(self._ids)}"})
        self.views[view_id] = view
        self.opened_views.append(view_id)
        return _ok(view=view)

    async def _m_views_update(self, params: dict[str, Any]) -> web.Response:
        if missing := _missing(params, "view_id", "view"):
            return missing
        current = self.views.get(params["view_id"])
        if current is None:
            return _error("not_found")
        if params.get("hash") and params["hash"] != current["hash"]:
            return _error("hash_conflict")
        view = _view(params["view"])
        if view is None:
            return _error("invalid_arguments")
        view.update({"id": params["view_id"], "hash": f"h{next(self._ids)}"})
        self.views[params["view_id"]] = view
        return _ok(view=view)

    async def _m_views_publish(self, params: dict[str, Any]) -> web.Response:
        if missing := _missing(params, "user_id", "view"):
            return missing
        view = _view(params["view"])
        if view is None or view.get("type") != "home":
            return _error("invalid_arguments")
        self.home_views[params["user_id"]] = view
        return _ok(view=view)

    async def _m_chat_postEphemeral(self, params: dict[str, Any]) -> web.Response:
        if missing := _missing(params, "channel", "user", "text"):
            return missing
        self.ephemerals.append(
            Posted(params["channel"], params["text"], params.get("thread_ts"), params["user"])
        )
        return _ok(message_ts=self.new_ts())

    async def _m_chat_getPermalink(self, params: dict[str, Any]) -> web.Response:
        if missing := _missing(params, "channel", "message_ts"):
            return missing
        ts = params["message_ts"].replace(".", "")
        return _ok(
            channel=params["channel"], permalink=f"https://fake.slack.test/archives/{params['channel']}/p{ts}"
        )

    async def _m_conversations_replies(self, params: dict[str, Any]) -> web.Response:
        if missing := _missing(params, "channel", "ts"):
            return missing
        channel, root = params["channel"], params["ts"]
        thread = [m for m in self.history if m.channel == channel and (m.ts == root or m.thread_ts == root)]
        if not thread:
            return _error("thread_not_found")
        return _ok(
            messages=[m.as_slack() for m in thread], has_more=False, response_metadata={"next_cursor": ""}
        )

    async def _m_conversations_history(self, params: dict[str, Any]) -> web.Response:
        if missing := _missing(params, "channel"):
            return missing
        messages = [m for m in self.history if m.channel == params["channel"] and m.thread_ts is None]
        if "latest" in params:
            inclusive = str(params.get("inclusive", "")).lower() in ("1", "true")
            messages = [
                m for m in messages if m.ts < params["latest"] or (inclusive and m.ts == params["latest"])
            ]
        newest_first = sorted(messages, key=lambda m: float(m.ts), reverse=True)[
            : int(params.get("limit", 100))
        ]
        return _ok(messages=[m.as_slack() for m in newest_first], has_more=False)

    async def _m_files_info(self, params: dict[str, Any]) -> web.Response:
        if missing := _missing(params, "file"):
            return missing
        hosted = self._files.get(params["file"])
        if hosted is None:
            return _error("file_not_found")
        info = hosted.object(self.url, self._remote_server.url)
        shares: dict[str, dict[str, list[dict[str, Any]]]] = {"public": {}, "private": {}}
        for channel, ts, thread_ts in hosted.shares:
            entry: dict[str, Any] = {"ts": ts, "channel_name": "general"}
            if thread_ts:
                entry["thread_ts"] = thread_ts
            shares["private" if channel.startswith(("G", "D")) else "public"].setdefault(channel, []).append(
                entry
            )
        info["shares"] = shares
        return _ok(file=info)

    async def _m_reactions_add(self, params: dict[str, Any]) -> web.Response:
        if missing := _missing(params, "channel", "timestamp", "name"):
            return missing
        key = (params["channel"], params["timestamp"])
        if key not in self._roots:
            return _error("message_not_found")
        if params["name"] in self.reactions.setdefault(key, set()):
            return _error("already_reacted")
        self.reactions[key].add(params["name"])
        self.reaction_log.append(("add", *key, params["name"]))
        return _ok()

    async def _m_reactions_remove(self, params: dict[str, Any]) -> web.Response:
        if missing := _missing(params, "channel", "timestamp", "name"):
            return missing
        key = (params["channel"], params["timestamp"])
        if params["name"] not in self.reactions.get(key, set()):
            return _error("no_reaction")
        self.reactions[key].discard(params["name"])
        self.reaction_log.append(("remove", *key, params["name"]))
        return _ok()

    async def _m_files_getUploadURLExternal(self, params: dict[str, Any]) -> web.Response:
        if missing := _missing(params, "filename", "length"):
            return missing
        if not str(params["length"]).isdigit() or int(params["length"]) <= 0:
            return _error("invalid_arguments")
        file_id = f"F{next(self._ids):06d}"
        self._uploads[file_id] = Upload(file_id, params["filename"], int(params["length"]))
        return _ok(upload_url=f"{self.url}/upload/{file_id}", file_id=file_id)

    async def _upload(self, request: web.Request) -> web.Response:
        upload = self._uploads.get(request.match_info["file_id"])
        if upload is None:
            return web.Response(status=404, text="no such upload")
        data = await request.read()
        self.upload_posts.append((upload.file_id, "Authorization" in request.headers))
        if self.upload_failures:
            return web.Response(status=self.upload_failures.pop(0), text="upload failed")
        if len(data) != upload.length:
            return web.Response(status=400, text=f"expected {upload.length} bytes, got {len(data)}")
        upload.data = data
        return web.Response(text=f"OK - {len(data)}")

    async def _m_files_completeUploadExternal(self, params: dict[str, Any]) -> web.Response:
        if missing := _missing(params, "files"):
            return missing
        try:
            listed = json.loads(params["files"])
        except (TypeError, ValueError):
            return _error("invalid_arguments")
        uploads = []
        for item in listed:
            upload = self._uploads.get(item.get("id", ""))
            if upload is None or upload.data is None:
                return _error("file_not_found")
            uploads.append(upload)
        channel = params.get("channel_id")
        thread_ts = params.get("thread_ts")
        if thread_ts and not channel:
            return _error("invalid_arguments")
        if channel and (problem := self._check_thread(channel, thread_ts)):
            return problem
        blocks = _blocks(params.get("blocks"))
        if blocks is False:
            return _error("invalid_blocks")
        if channel:
            ts = self.new_ts()
            comment = params.get("initial_comment", "") or blocks_text(blocks or [])
            self.file_messages.append(FileMessage(channel, thread_ts, comment, uploads, ts, blocks or None))
            shared = [{"id": u.file_id, "name": u.filename} for u in uploads]
            history_text = params.get("initial_comment", "")
            self.history.append(
                Message(
                    channel,
                    ts,
                    BOT_USER_ID,
                    history_text,
                    thread_ts,
                    shared,
                    bot_id=BOT_ID,
                    blocks=blocks or None,
                )
            )
        return _ok(files=[{"id": u.file_id, "title": u.filename} for u in uploads])

    async def _download(self, request: web.Request) -> web.Response:
        if "download" in self.holds:
            await self.holds["download"].wait()
        file_id = request.match_info["team_file"].split("-", 1)[-1]
        hosted = self._files.get(file_id)
        authorised = request.headers.get("Authorization") == f"Bearer {self.bot_token}"
        self.downloads.append((file_id, authorised))
        if not authorised or not self.files_readable:
            raise web.HTTPFound(f"{self.url}/?redir=%2Ffiles-pri%2F{request.match_info['team_file']}")
        if hosted is None or hosted.external_type:
            return web.Response(status=404, text="file_not_found")
        content_type = hosted.content_type or hosted.mimetype
        if hosted.trickle_s is None:
            return web.Response(body=hosted.data, content_type=content_type)
        response = web.StreamResponse(headers={"Content-Type": content_type})
        response.content_length = len(hosted.data)
        await response.prepare(request)
        try:
            for index in range(len(hosted.data)):
                await response.write(hosted.data[index : index + 1])
                await asyncio.sleep(hosted.trickle_s)
        except (ConnectionResetError, asyncio.CancelledError):
            return response
        return response

    async def _remote(self, request: web.Request) -> web.Response:
        """Google Drive, Dropbox…: serves the file to anyone, and notes whether a Slack token came along."""
        self.remote_requests.append((request.path, "Authorization" in request.headers))
        hosted = self._files.get(request.match_info["file_id"])
        if hosted is None:
            return web.Response(status=404)
        return web.Response(body=hosted.data, content_type=hosted.mimetype)

    async def _respond(self, request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            return web.Response(status=400, text="invalid_payload")
        self.responses.append(await request.json())
        return web.Response(text="ok")

    def _check_thread(self, channel: str, thread_ts: str | None) -> web.Response | None:
        if thread_ts is None:
            return None
        if (channel, thread_ts) not in self._roots:
            return _error("thread_not_found")
        if self._roots[(channel, thread_ts)] is not None:
            return _error("invalid_thread_ts")  # a reply's ts: Slack says to use the parent's
        return None


def _ok(**fields: Any) -> web.Response:
    return web.json_response({"ok": True, **fields})


def _error(code: str) -> web.Response:
    return web.json_response({"ok": False, "error": code})


def _missing(params: dict[str, Any], *names: str) -> web.Response | None:
    if any(not params.get(name) for name in names):
        return _error("invalid_arguments")
    return None


def _blocks(value: Any) -> list[dict[str, Any]] | bool | None:
    """Blocks as sent (a list in a JSON body, a JSON string in a form or query): None if absent, False if bad."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return False
    if not isinstance(value, list) or not all(isinstance(b, dict) and b.get("type") for b in value):
        return False
    return value


def _view(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if (
        not isinstance(value, dict)
        or value.get("type") not in ("modal", "home")
        or not isinstance(value.get("blocks"), list)
    ):
        return None
    return dict(value)


def blocks_text(blocks: list[dict[str, Any]]) -> str:
    """Every text a message's blocks show, joined: what a test reads as the message."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return " ".join(found)


def _find_element(blocks: list[dict[str, Any]], action_id: str) -> tuple[dict[str, Any], str]:
    """The interactive element with this action id, and the id of the block that holds it."""
    for block in blocks:
        elements = block.get("elements") or ([block["element"]] if "element" in block else [])
        if "accessory" in block:
            elements = [*elements, block["accessory"]]
        for element in elements:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return element, str(block.get("block_id", ""))
    raise AssertionError(f"no element {action_id} in the blocks")
