"""What Slack sends to the bot in HTTP mode, signed: events (a user's `file_share` message and its
`file_shared`, `app_home_opened`, redeliveries with their retry headers) and `/cutout` commands; and the
`response_url`s where the bot answers them."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from fakes.slack.core import SlackCore
from fakes.slack.records import APP_ID, BOT_USER_ID, TEAM_ID, Message


class Events(SlackCore):
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

    async def _respond(self, request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            return web.Response(status=400, text="invalid_payload")
        self.responses.append(await request.json())
        return web.Response(text="ok")
