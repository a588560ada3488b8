"""The bot's `Delivery`: a task's outcome in its thread — progress reaction, result files, failures and the
progress message of a long task — made of the three Slack parts (files, messages, reactions)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from bot.domain.failures import TaskFailure
from bot.domain.listing import Preset
from bot.domain.reports import ProgressReport
from bot.domain.tasks import Task
from bot.slack.blocks import failure_blocks, failure_text, progress_text, result_blocks, summary_text
from bot.slack.files import SlackFiles
from bot.slack.messages import SlackThreads
from bot.slack.reactions import Progress, SlackReactions
from bot.tasks.delivery import Outcome

logger = logging.getLogger(__name__)

RecentPresets = Callable[[str], Awaitable[Sequence[Preset]]]  # channel id → presets, newest first
_REACTIONS = {Outcome.WORKING: Progress.WORKING, Outcome.DONE: Progress.DONE, Outcome.FAILED: Progress.FAILED}


class SlackGateway:
    """Slack for the runner: the `Delivery` of the bot; `files.download_file` fetches shared images."""

    def __init__(
        self,
        files: SlackFiles,
        threads: SlackThreads,
        reactions: SlackReactions,
        *,
        recent_presets: RecentPresets | None = None,
    ) -> None:
        """`recent_presets`: the marketplace presets a channel used last (its results' buttons offer them)."""
        self.files = files
        self.threads = threads
        self.reactions = reactions
        self._recent_presets = recent_presets

    async def aclose(self) -> None:
        await self.files.aclose()

    async def working(self, task: Task) -> None:
        await self.reactions.set_progress(task.channel_id, task.message_ts, Progress.WORKING)

    async def deliver(self, task: Task) -> None:
        presets = await self._recent_presets(task.channel_id) if self._recent_presets else ()
        blocks = result_blocks(task, presets)
        if not task.result_files:  # a check: a report, no files
            await self.threads.post_in_thread(
                task.channel_id, task.thread_ts, summary_text(task), blocks=blocks
            )
            return
        await self.files.post_results(task.channel_id, task.thread_ts, list(task.result_files), blocks)

    async def tell_failure(self, task: Task, reason: str) -> None:
        await self.threads.post_in_thread(
            task.channel_id, task.thread_ts, failure_text(task, reason), blocks=failure_blocks(task, reason)
        )

    async def already_said(self, task: Task, marker: str, *, with_files: bool = False) -> bool:
        return await self.threads.bot_said_in_thread(
            task.channel_id, task.thread_ts, marker, with_files=with_files
        )

    async def progress(self, task: Task, report: ProgressReport, message_ts: str | None) -> str | None:
        text = progress_text(report)
        if message_ts:
            await self.threads.update_message(task.channel_id, message_ts, text)
            return message_ts
        try:
            return await self.threads.post_in_thread(task.channel_id, task.thread_ts, text)
        except TaskFailure:
            return None

    async def message_outcome(self, task: Task, outcome: Outcome) -> None:
        reaction = _REACTIONS.get(outcome)
        if reaction is None:
            await self.reactions.clear_progress(task.channel_id, task.message_ts)
        else:
            await self.reactions.set_progress(task.channel_id, task.message_ts, reaction)
