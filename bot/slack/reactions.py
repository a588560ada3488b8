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


REMEMBERED_MESSAGES = 10_000  # reactions remembered per message, newest kept


class Progress(StrEnum):
    """The reaction on an image message: its value is the emoji name."""

    WORKING = "hourglass_flowing_sand"
    DONE = "white_check_mark"
    FAILED = "x"


class SlackReactions:
    """Shows exactly one progress reaction on a message, remembering what it showed last."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client
        self._shown: OrderedDict[tuple[str, str], Progress | None] = OrderedDict()  # reaction on each message

    async def set_progress(self, channel_id: str, message_ts: str, progress: Progress) -> None:
        """Show exactly one progress reaction on the message. Reaction trouble never fails a task.

        The reaction last shown on a message is remembered, so the usual path is one call to add and one to
        swap; a message this process has not touched may carry reactions from before a restart, so they are
        cleared before a final state is shown."""
        key = (channel_id, message_ts)
        if key in self._shown:
            current = self._shown[key]
            if current is progress:
                return
            if current is not None:
                await self._reaction(
                    "reactions_remove", channel_id, message_ts, current, ignore="no_reaction"
                )
        elif progress is not Progress.WORKING:
            for other in Progress:
                if other is not progress:
                    await self._reaction(
                        "reactions_remove", channel_id, message_ts, other, ignore="no_reaction"
                    )
        await self._reaction("reactions_add", channel_id, message_ts, progress, ignore="already_reacted")
        self._remember(key, progress)

    async def clear_progress(self, channel_id: str, message_ts: str) -> None:
        key = (channel_id, message_ts)
        shown = [self._shown[key]] if key in self._shown else list(Progress)
        for progress in shown:
            if progress is not None:
                await self._reaction(
                    "reactions_remove", channel_id, message_ts, progress, ignore="no_reaction"
                )
        self._remember(key, None)

    def _remember(self, key: tuple[str, str], progress: Progress | None) -> None:
        self._shown[key] = progress
        self._shown.move_to_end(key)
        while len(self._shown) > REMEMBERED_MESSAGES:
            self._shown.popitem(last=False)

    async def _reaction(self, method: str, channel: str, ts: str, progress: Progress, *, ignore: str) -> None:
        try:
            await getattr(self._client, method)(channel=channel, timestamp=ts, name=progress.value)
        except SlackApiError as error:
            if (said := slack_error_code(error)) != ignore:
                logger.warning("could not change reaction %s on %s/%s: %s", progress.value, channel, ts, said)
