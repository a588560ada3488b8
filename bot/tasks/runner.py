"""The task runner: claims tasks from the store and works on each (bot.tasks.steps) in a bounded number of
slots.

Claims and leases (storage/queries/tasks.py): a claimed task is this instance's for one lease, renewed
every third of a lease while it works on it. When a renewal finds the task claimed again by another
instance, its work here is cancelled (every write about it is fenced by its claim anyway). A task this
instance is still working on is never claimed again here, even when its lease ran out (the loop stalled,
the database was away): one job a task, and that job's renewal keeps the task unless another instance
claimed it meanwhile. New work wakes the runner (`notify`:
the handlers here, or the database for work queued by other instances); a poll every `poll_interval_s`
is the safety net, and finds tasks whose owner stopped renewing.

One log line per step. On shutdown it stops taking work, waits a grace period, then cancels what is left
and gives up its leases: the tasks stay non-final, and this or another instance resumes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import NamedTuple

from bot.domain.tasks import LeaseLost, Task
from bot.engines.registry import Engines
from bot.tasks.delivery import Delivery
from bot.tasks.progress import DEFAULT_PACING, Pacing
from bot.tasks.sources import ImageSources
from bot.tasks.steps import TaskSteps
from storage import Store

logger = logging.getLogger(__name__)


class TaskRunner:
    def __init__(
        self,
        store: Store,
        engines: Engines,
        delivery: Delivery,
        sources: ImageSources,
        *,
        data_dir: Path,
        concurrency: int = 4,
        poll_interval_s: float = 2.0,
        max_attempts: int = 3,
        pacing: Pacing = DEFAULT_PACING,
        breaker_s: float = 600.0,
    ) -> None:
        self._store = store
        self._steps = TaskSteps(
            store,
            engines,
            delivery,
            sources,
            data_dir=data_dir,
            max_attempts=max_attempts,
            pacing=pacing,
            breaker_s=breaker_s,
        )
        self._data_dir = data_dir
        self._slots = asyncio.Semaphore(concurrency)
        self._poll_interval_s = poll_interval_s
        self._wake = asyncio.Event()
        self._jobs: dict[int, _Job] = {}  # the tasks this instance works on, by task id
        self._loop_task: asyncio.Task[None] | None = None
        self._lease_task: asyncio.Task[None] | None = None
        self._stopping = False

    def notify(self) -> None:
        """New work was queued: look now rather than at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        if self._loop_task is not None:
            return
        self._data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._stopping = False
        self._loop_task = asyncio.create_task(self._take_work(), name="task-runner")
        self._lease_task = asyncio.create_task(self._keep_leases(), name="task-leases")

    async def stop(self, grace_s: float = 10.0) -> None:
        """Stop taking work, let running tasks finish within `grace_s`, then cancel the rest and give up
        their leases, so that another instance (or this one, restarted) resumes them at once."""
        self._stopping = True
        self._wake.set()
        for loop in (self._loop_task, self._lease_task):
            if loop is not None:
                loop.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await loop
        self._loop_task = self._lease_task = None
        if self._jobs:
            jobs = list(self._jobs.values())
            _, pending = await asyncio.wait({job.work for job in jobs}, timeout=grace_s)
            for work in pending:
                work.cancel()
            if pending:
                await asyncio.wait(pending)
                left = [job.task for job in jobs if job.work in pending]
                with contextlib.suppress(Exception):  # the leases run out anyway
                    await self._store.release_leases(left)
                logger.warning("stopped with %d task(s) unfinished; they will be resumed", len(left))

    async def run_until_idle(self, timeout_s: float | None = 30.0) -> None:
        """Wait until no task is queued or running (tests; the command-line tool waits with no limit)."""
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else float("inf"))
        while self._jobs or await self._store.queue_length():
            if time.monotonic() > deadline:
                raise TimeoutError("the runner did not become idle in time")
            await asyncio.sleep(0.01)

    async def _take_work(self) -> None:
        while not self._stopping:
            await self._slots.acquire()
            free = 1
            while not self._slots.locked():  # every slot free now is filled by the same claim
                await self._slots.acquire()
                free += 1
            self._wake.clear()
            try:
                tasks = await self._store.claim_tasks(free, busy=list(self._jobs))
            except Exception:
                tasks = None
                logger.exception("could not read the task queue; trying again shortly")
            for _ in range(free - len(tasks or ())):
                self._slots.release()
            if tasks is None:
                await asyncio.sleep(self._poll_interval_s)
                continue
            if not tasks:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_interval_s)
                continue
            for task in tasks:
                self._spawn(task)

    def _spawn(self, task: Task) -> None:
        """Work on a claimed task, in the slot its claim took (never one this instance works on already:
        `claim_tasks` was told which)."""

        async def run() -> None:
            try:
                await self._steps.take_up(task)
            except LeaseLost:
                logger.warning("task %d: taken over by another instance; leaving it to that one", task.id)
            finally:
                self._slots.release()

        work = asyncio.create_task(run(), name=f"task-{task.id}")
        self._jobs[task.id] = _Job(task, work)
        work.add_done_callback(lambda _: self._jobs.pop(task.id, None))

    async def _keep_leases(self) -> None:
        """Renew the leases of the tasks this instance works on; stop work on any another instance took."""
        while True:
            await asyncio.sleep(self._store.lease_s / 3)
            working = list(self._jobs.values())
            try:
                ours = await self._store.renew_leases(job.task for job in working)
            except Exception:
                logger.exception("could not renew the task leases; trying again shortly")
                continue
            for job in working:
                if job.task.id not in ours:
                    logger.warning(
                        "task %d: its lease was lost to another instance; stopping work on it", job.task.id
                    )
                    job.work.cancel()


class _Job(NamedTuple):
    """A claimed task and the work on it."""

    task: Task  # as claimed: its claim fences every write of the work
    work: asyncio.Task[None]
