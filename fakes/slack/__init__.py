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

Each part is a module of its own, a mixin of `SlackCore` (core.py: the state, the servers, the Web API
door, signing): web_api.py (messages, threads, reactions, views), files.py (hosted, remote, Connect stubs,
downloads), uploads.py, events.py (signed events and commands, `response_url`s), interactions.py
(shortcuts, buttons, modals), socket_mode.py. `FakeSlack` joins them and maps the URLs to them.
"""

from __future__ import annotations

from aiohttp import web

from fakes.slack.blocks import blocks_text
from fakes.slack.core import SlackCore
from fakes.slack.events import Events
from fakes.slack.files import Files
from fakes.slack.interactions import Interactions
from fakes.slack.records import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    TEAM_ID,
    Call,
    FileMessage,
    HostedFile,
    Message,
    Posted,
    Upload,
)
from fakes.slack.socket_mode import SocketMode
from fakes.slack.uploads import Uploads
from fakes.slack.web_api import WebApi

__all__ = [
    "APP_ID",
    "BOT_ID",
    "BOT_USER_ID",
    "TEAM_ID",
    "Call",
    "FakeSlack",
    "FileMessage",
    "HostedFile",
    "Message",
    "Posted",
    "SlackCore",
    "Upload",
    "blocks_text",
]


class FakeSlack(WebApi, Files, Uploads, Events, Interactions, SocketMode):
    """The whole fake: its fields (tokens, what it records, faults to answer with) are `SlackCore`'s."""

    def _add_routes(self, app: web.Application, remote: web.Application) -> None:
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_get("/files-pri/{team_file}/{name}", self._download)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/respond/{n}", self._respond)
        app.router.add_get("/link", self._socket)
        remote.router.add_get("/remote/{file_id}/{name}", self._remote)
