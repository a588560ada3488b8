"""The reaction on an image message that shows how its tasks stand: one at a time, and trouble with it
never fails a task."""

from __future__ import annotations

import logging
from collections import OrderedDict
from enum import StrEnum

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.messages import slack_error_code

logger = logging.getLogger(__name__)


REMEMBERED_MESSAGES = 10_000  # messages remembered as showing the hourglass, newest kept


class Progress(StrEnum):
    """The reaction on an image message: its value is the emoji name."""

    WORKING = "hourglass_flowing_sand"
    DONE = "white_check_mark"
    FAILED = "x"


class SlackReactions:
    """Shows exactly one progress reaction on a message.

    Other instances (or this process before a restart) may have changed the message's reactions since
    this one last did, so what this process showed is no guide to what the message shows: each change
    removes the other progress reactions. Only the hourglass is not added again for every task of a
    message that this process already showed it on (up to 10 files a message, each its own task); the
    final state, shown once for the message, clears whatever another instance left."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client
        self._working: OrderedDict[tuple[str, str], None] = OrderedDict()  # hourglass shown from here

    async def set_progress(self, channel_id: str, message_ts: str, progress: Progress) -> None:
        """Show exactly one progress reaction on the message. Reaction trouble never fails a task."""
        key = (channel_id, message_ts)
        if progress is Progress.WORKING and key in self._working:
            self._working.move_to_end(key)
            return
        await self._remove(channel_id, message_ts, [other for other in Progress if other is not progress])
        await self._reaction("reactions_add", channel_id, message_ts, progress, ignore="already_reacted")
        self._working.pop(key, None)
        if progress is Progress.WORKING:
            self._working[key] = None
            while len(self._working) > REMEMBERED_MESSAGES:
                self._working.popitem(last=False)

    async def clear_progress(self, channel_id: str, message_ts: str) -> None:
        """Show no progress reaction on the message (every task of it was cancelled)."""
        self._working.pop((channel_id, message_ts), None)
        await self._remove(channel_id, message_ts, list(Progress))

    async def _remove(self, channel: str, ts: str, reactions: list[Progress]) -> None:
        for progress in reactions:
            await self._reaction("reactions_remove", channel, ts, progress, ignore="no_reaction")

    async def _reaction(self, method: str, channel: str, ts: str, progress: Progress, *, ignore: str) -> None:
        try:
            await getattr(self._client, method)(channel=channel, timestamp=ts, name=progress.value)
        except SlackApiError as error:
            if (said := slack_error_code(error)) != ignore:
                logger.warning("could not change reaction %s on %s/%s: %s", progress.value, channel, ts, said)
