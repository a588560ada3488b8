"""Files shared into Slack, in the shapes Slack gives: hosted (`mode: hosted`, downloaded with the bot
token, or a 302 to the login page without it; optionally trickled a byte at a time), remote (`mode:
external`: `url_private` on another origin, which notes whether a token came along), and Slack Connect
stubs (`file_access: check_file_info`, resolved only by `files.info`)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from fakes.slack.core import SlackCore, error, ok, require
from fakes.slack.records import HostedFile


class Files(SlackCore):
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

    # --- files.info, downloads, and the remote origin -----------------------------------------

    async def _m_files_info(self, params: dict[str, Any]) -> web.Response:
        if missing := require(params, "file"):
            return missing
        hosted = self._files.get(params["file"])
        if hosted is None:
            return error("file_not_found")
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
        return ok(file=info)

    async def _download(self, request: web.Request) -> web.StreamResponse:
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
