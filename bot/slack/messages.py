"""Messages in a thread: post, rewrite, and read back what the bot said (after a restart, to tell a post
that happened from one that did not). Slack's refusals become SlackPostError with a hint for the user."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.failures import TaskFailure
from bot.domain.text import quote

logger = logging.getLogger(__name__)


class SlackPostError(TaskFailure):
    """Slack refused a post (not in the channel, uploads disabled…)."""


class SlackThreads:
    """The bot's messages in threads."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client
        self._bot_user_id: str | None = None

    async def post_in_thread(
        self, channel_id: str, thread_ts: str, text: str, *, blocks: list[dict[str, Any]] | None = None
    ) -> str:
        """Post a message in the thread (`text` is the notification fallback when there are blocks)."""
        try:
            response = await self._client.chat_postMessage(
                channel=channel_id, thread_ts=thread_ts, text=text, blocks=blocks
            )
        except SlackApiError as error:
            raise _post_failure(error) from None
        return str(response.get("ts") or "")

    async def update_message(self, channel_id: str, ts: str, text: str) -> None:
        """Rewrite one of the bot's messages; trouble here never fails a task."""
        try:
            await self._client.chat_update(channel=channel_id, ts=ts, text=text)
        except SlackApiError as error:
            logger.warning("could not update message %s/%s: %s", channel_id, ts, slack_error_code(error))

    async def bot_said_in_thread(
        self, channel_id: str, thread_ts: str, marker: str, *, with_files: bool = False
    ) -> bool:
        """Whether a message of this bot in the thread contains `marker` (e.g. "task #12") — and, when
        `with_files`, carries files (a result, not the failure message that told it could not be posted).

        Used only after a restart, to tell a post that happened from one that did not; when Slack
        cannot be asked, the answer is "no" (a duplicate beats a lost result)."""
        pattern = re.compile(re.escape(marker) + r"(?!\d)")
        try:
            if self._bot_user_id is None:
                self._bot_user_id = (await self._client.auth_test()).get("user_id")
            cursor = None
            for _ in range(10):
                page = await self._client.conversations_replies(
                    channel=channel_id, ts=thread_ts, limit=200, cursor=cursor
                )
                for message in page.get("messages") or []:
                    mine = message.get("user") == self._bot_user_id or bool(message.get("bot_id"))
                    said = str(message.get("text") or "") + json.dumps(message.get("blocks") or [])
                    if mine and pattern.search(said) and (message.get("files") or not with_files):
                        return True
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    return False
        except SlackApiError as error:
            logger.warning(
                "could not read thread %s/%s to check for earlier posts: %s",
                channel_id,
                thread_ts,
                slack_error_code(error),
            )
        return False


def slack_error_code(error: SlackApiError) -> str | None:
    """The `error` Slack answered with, e.g. `not_in_channel`."""
    said = error.response.get("error") if error.response is not None else None
    return str(said) if said else None


def _post_failure(error: SlackApiError) -> SlackPostError:
    said = slack_error_code(error) or "unknown"
    hints = {
        "not_in_channel": f"the bot is not in this channel: {quote('/invite')} it and try again",
        "channel_not_found": f"the bot cannot see this channel: {quote('/invite')} it and try again",
        "file_uploads_disabled": "file uploads are disabled in this workspace",
        "file_uploads_except_images_disabled": "this workspace only allows image uploads",
    }
    return SlackPostError(code=f"SLACK_{said}", message=f"Slack refused the post: {hints.get(said, said)}.")
