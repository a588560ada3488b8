"""Forgetting what is old: finished tasks, their work folders, images and event ids past the retention.
An undelivered task's folder (a paid result Slack refused) is kept until its task is forgotten."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from storage import Store

logger = logging.getLogger(__name__)

EVERY_S = 3600.0


class Housekeeper:
    def __init__(
        self, store: Store, data_dir: Path, *, retention_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._data_dir = data_dir
        self._retention_s = retention_s
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._forever(), name="housekeeping")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def sweep(self) -> int:
        """One pass; returns how many work folders were removed."""
        removed_tasks = await self._store.delete_finished_before(self._clock() - self._retention_s)
        removed = 0
        for folder in sorted(self._data_dir.glob("task-*")):
            number = folder.name.removeprefix("task-")
            if not number.isdigit():
                continue
            task = await self._store.get_task(int(number))
            # forgotten, or left behind by a stop during clean-up; an undelivered result is kept
            if task is None or not task.state.keeps_files:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        if removed_tasks or removed:
            logger.info(
                "housekeeping: forgot %d finished task(s), removed %d work folder(s)",
                len(removed_tasks),
                removed,
            )
        return removed

    async def _forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                logger.exception("housekeeping failed; trying again later")
            await asyncio.sleep(EVERY_S)
