"""Links to threads, for replies that list tasks."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient


async def thread_link(client: AsyncWebClient, channel_id: str, ts: str) -> str | None:
    """A permalink to the message `ts` (the thread's root), or None when Slack will not give one."""
    try:
        response = await client.chat_getPermalink(channel=channel_id, message_ts=ts)
    except SlackApiError:
        return None
    link = response.get("permalink")
    return str(link) if link else None
