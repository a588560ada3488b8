"""Interactivity as Slack sends it to the bot, signed: the message shortcut, button clicks, choices and
submissions in modals; each with a trigger id that `views.open` accepts once."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

from fakes.slack.blocks import find_element
from fakes.slack.core import SlackCore
from fakes.slack.records import APP_ID, TEAM_ID, FileMessage, Posted


class Interactions(SlackCore):
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
        button, block_id = find_element(message.blocks or [], action_id)
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
        element, block_id = find_element(view["blocks"], action_id)
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
