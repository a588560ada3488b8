"""Uploads as Slack takes them: `files.getUploadURLExternal` gives a URL, the bytes are POSTed there (the
length must match; `upload_failures` makes the next POSTs fail), and `files.completeUploadExternal` shares
them in one message with its files (`FileMessage`)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from fakes.slack.blocks import blocks_text, read_blocks
from fakes.slack.core import SlackCore, error, ok, require
from fakes.slack.records import BOT_ID, BOT_USER_ID, FileMessage, Message, Upload


class Uploads(SlackCore):
    async def _m_files_getUploadURLExternal(self, params: dict[str, Any]) -> web.Response:
        if missing := require(params, "filename", "length"):
            return missing
        if not str(params["length"]).isdigit() or int(params["length"]) <= 0:
            return error("invalid_arguments")
        file_id = f"F{next(self._ids):06d}"
        self._uploads[file_id] = Upload(file_id, params["filename"], int(params["length"]))
        return ok(upload_url=f"{self.url}/upload/{file_id}", file_id=file_id)

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
        if missing := require(params, "files"):
            return missing
        try:
            listed = json.loads(params["files"])
        except (TypeError, ValueError):
            return error("invalid_arguments")
        uploads = []
        for item in listed:
            upload = self._uploads.get(item.get("id", ""))
            if upload is None or upload.data is None:
                return error("file_not_found")
            uploads.append(upload)
        channel = params.get("channel_id")
        thread_ts = params.get("thread_ts")
        if thread_ts and not channel:
            return error("invalid_arguments")
        if channel and (problem := self._check_thread(channel, thread_ts)):
            return problem
        blocks = read_blocks(params.get("blocks"))
        if blocks is False:
            return error("invalid_blocks")
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
        return ok(files=[{"id": u.file_id, "title": u.filename} for u in uploads])
