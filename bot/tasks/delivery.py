"""Where a task's outcome goes: what the runner needs from Slack (the bot) or from a folder (the CLI)."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from bot.domain.reports import ProgressReport
from bot.domain.tasks import Task


class Outcome(StrEnum):
    """How an image message stands once its tasks are over (the bot shows it as a reaction)."""

    WORKING = "working"
    DONE = "done"
    FAILED = "failed"
    NONE = "none"  # nothing to show: every task was cancelled


class Delivery(Protocol):
    """Renders what the runner reports; the runner itself never formats (no Block Kit, no mrkdwn)."""

    async def working(self, task: Task) -> None:
        """The task's image is being worked on."""
        ...

    async def deliver(self, task: Task) -> None:
        """Hand over the task's finished files (`task.result_files`); `task.summary` is its ResultReport."""
        ...

    async def tell_failure(self, task: Task, reason: str) -> None:
        """Say why the task failed (`reason`: the stored error message). Raises TaskFailure when it cannot
        be said."""
        ...

    async def already_said(self, task: Task, marker: str, *, with_files: bool = False) -> bool:
        """After a restart: whether an earlier process already told the task (`marker`) or, `with_files`,
        delivered its files (a message with files; its failure message does not count)."""
        ...

    async def progress(self, task: Task, report: ProgressReport, message_ts: str | None) -> str | None:
        """Show a long task's progress: post it (no `message_ts`) or rewrite it; returns the message's id."""
        ...

    async def message_outcome(self, task: Task, outcome: Outcome) -> None:
        """Every task of the task's image message is over (or one has begun): show how it went."""
        ...
