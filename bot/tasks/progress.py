"""What a task reports while it runs: the runner's waits (`Pacing`), cancellation at a step boundary, and
`TaskProgress`, which keeps an asynchronous vendor's job id and a long task's progress message."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from bot.domain.reports import ProgressReport, ProgressStage
from bot.domain.tasks import Task
from bot.tasks.delivery import Delivery
from storage import Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Pacing:
    """The runner's waits: fixed for users, shortened by tests through the constructor."""

    recheck_thread_after_s: float = 3.0  # Slack shares uploaded files a moment after the upload call returns
    long_task_s: float = 5.0  # an asynchronous vendor job this old gets a progress message in the thread
    progress_every_s: float = 5.0  # the progress message is rewritten at most this often


DEFAULT_PACING = Pacing()


class TaskCancelled(Exception):
    """The task's owner cancelled it; raised at the next step boundary."""


class TaskProgress:
    """Records what an engine reports. An asynchronous vendor's job id is stored the moment it exists; a
    long job gets one progress message that is kept up to date; a cancel request stops the polling."""

    def __init__(self, store: Store, delivery: Delivery, task: Task, pacing: Pacing) -> None:
        self._pacing = pacing
        self._store = store
        self._delivery = delivery
        self.task = task
        self.vendor_task_id: str | None = task.vendor_task_id
        self._message_ts = task.progress_ts
        self._since = time.monotonic()
        self._last: tuple[int | None, float] | None = None

    async def submitted(self, vendor_task_id: str) -> None:
        await self._store.set_vendor_task(self.task, vendor_task_id)
        self.vendor_task_id = vendor_task_id  # a job that exists is polled, never sent elsewhere
        self._since = time.monotonic()
        logger.info("task %d: vendor job %s accepted; polling", self.task.id, vendor_task_id)

    async def progressed(self, percent: int | None) -> None:
        if await self._store.cancel_requested(self.task):
            raise TaskCancelled
        now = time.monotonic()
        if self._message_ts is None and now - self._since < self._pacing.long_task_s:
            return
        if self._last is not None and (
            self._last[0] == percent or now - self._last[1] < self._pacing.progress_every_s
        ):
            return
        self._last = (percent, now)
        report = ProgressReport(ProgressStage.WORKING, self.task.vendor or "", self.task.file.name, percent)
        first = self._message_ts is None
        self._message_ts = await self._delivery.progress(self.task, report, self._message_ts)
        if first and self._message_ts:
            await self._store.set_progress_message(self.task, self._message_ts)

    async def close(self, stage: ProgressStage) -> None:
        """Say how it ended, in the progress message if there is one."""
        if self._message_ts:
            report = ProgressReport(stage, self.task.vendor or "", self.task.file.name)
            await self._delivery.progress(self.task, report, self._message_ts)
