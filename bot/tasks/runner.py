"""The task runner: takes queued tasks from the store and carries each through to the thread.

Every step records its outcome before the next one starts, so a process killed at any moment resumes
each task from where it stopped:

    running      the image is fetched and the vendor called; a restart queues it again (nothing was kept)
    polling      an asynchronous vendor has the job (its id is stored): a restart polls, never re-creates
    downloading  the vendor's answer is stored (URLs, inline data on disk): a restart fetches, not re-calls
    posting      the finished files are on disk: a restart posts them — unless the thread already has them
    done/failed  told in the thread (`notified_at`); a failure recorded but not yet told is told at start-up
    undelivered  Slack kept refusing the result: its files are kept, and the owner's *Try again* queues the
                 task again, which posts them with no new vendor call

A task taken up again after `max_attempts` interruptions (a crash or kill each time, perhaps caused by
the task itself) is failed with that reason instead of being run, and billed, once more.

Bounded concurrency (a semaphore), one log line per step. On shutdown it stops taking work, waits a
grace period, then cancels what is left, which stays non-final and resumes at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from bot.domain.failures import TaskFailure
from bot.domain.reports import ProgressStage, ResultReport
from bot.domain.tasks import StoredPart, Task, TaskState
from bot.domain.text import quote
from bot.engines.base import CutoutEngine, ResultPart
from bot.engines.registry import Engines
from bot.tasks.delivery import Delivery, Outcome
from bot.tasks.pipeline import Job, Plan, call_engine, finish, plan
from bot.tasks.progress import DEFAULT_PACING, Pacing, TaskCancelled, TaskProgress
from bot.tasks.sources import ImageSources
from storage import Store

logger = logging.getLogger(__name__)

INTERNAL_ERROR_TEXT = (
    "Something went wrong on our side while cutting out {name}. It has been logged; "
    "try again, and tell whoever runs the bot if it keeps happening."
)
TOO_MANY_ATTEMPTS_TEXT = (
    "The bot stopped {attempts} times while working on {name}, so it was not started again (the image "
    "may be what stops it, and every start could bill the vendor again). Try again if you think it was "
    "bad luck, or try another image; whoever runs the bot can find the task in the logs."
)
UNDELIVERED_TEXT = "{reason} The result is kept: ‘Try again’ posts it without cutting the image again."


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
    ) -> None:
        self._store = store
        self._engines = engines
        self._delivery = delivery
        self._sources = sources
        self._data_dir = data_dir
        self._slots = asyncio.Semaphore(concurrency)
        self._poll_interval_s = poll_interval_s
        self._max_attempts = max_attempts
        self._pacing = pacing
        self._wake = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False

    def notify(self) -> None:
        """New work was queued: look now rather than at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        if self._loop_task is not None:
            return
        self._data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._stopping = False
        for task in await self._store.unnotified_final_tasks():
            logger.info("task %d: %s but not yet told in its thread; telling it now", task.id, task.state)
            self._spawn(task, holding_slot=False, resumed=True)
        for task in await self._store.interrupted_tasks():
            await self._resume(task)
        self._loop_task = asyncio.create_task(self._take_work(), name="task-runner")

    async def stop(self, grace_s: float = 10.0) -> None:
        """Stop taking work, let running tasks finish within `grace_s`, then cancel the rest."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        if self._inflight:
            _, pending = await asyncio.wait(set(self._inflight), timeout=grace_s)
            for job in pending:
                job.cancel()
            if pending:
                await asyncio.wait(pending)
                logger.warning(
                    "stopped with %d task(s) unfinished; they resume at the next start", len(pending)
                )

    async def run_until_idle(self, timeout_s: float | None = 30.0) -> None:
        """Wait until no task is queued or running (tests; the command-line tool waits with no limit)."""
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else float("inf"))
        while self._inflight or await self._store.queue_length():
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
                tasks = await self._store.claim_tasks(free)
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
                self._spawn(task, holding_slot=True, resumed=False)

    def _spawn(self, task: Task, *, holding_slot: bool, resumed: bool) -> None:
        async def run() -> None:
            if not holding_slot:
                await self._slots.acquire()
            try:
                await self._run(task, resumed=resumed)
            finally:
                self._slots.release()

        self._track(run(), name=f"task-{task.id}")

    def _track(self, work: Coroutine[Any, Any, None], *, name: str) -> None:
        """Run `work` as a task `stop()` waits for."""
        job = asyncio.create_task(work, name=name)
        self._inflight.add(job)
        job.add_done_callback(self._inflight.discard)

    async def _resume(self, task: Task) -> None:
        """Continue a task a previous process left unfinished — unless it has been interrupted too often."""
        if task.attempts >= self._max_attempts:
            logger.warning(
                "task %d: interrupted %d times (last at %s); failing it instead of running it again",
                task.id,
                task.attempts,
                task.state,
            )
            text = TOO_MANY_ATTEMPTS_TEXT.format(attempts=task.attempts, name=quote(task.file.name))
            self._spawn_failure(task, "TOO_MANY_ATTEMPTS", text)
            return
        nothing_kept = (
            task.state is TaskState.RUNNING
            or (task.state is TaskState.POLLING and not task.vendor_task_id)
            or (task.state is TaskState.DOWNLOADING and not task.vendor_parts)
        )
        if nothing_kept:
            logger.info("task %d: was %s when the bot stopped; queued again", task.id, task.state)
            await self._store.set_state(task.id, TaskState.QUEUED)
            return
        logger.info("task %d: resuming at %s", task.id, task.state)
        self._spawn(await self._store.count_attempt(task.id), holding_slot=False, resumed=True)

    def _spawn_failure(self, task: Task, error_code: str, text: str) -> None:
        async def fail() -> None:
            await self._fail(task, error_code, text)
            await self._clean_up(task, self._workdir(task), keep_files=False)

        self._track(fail(), name=f"task-{task.id}-fail")

    def _workdir(self, task: Task) -> Path:
        return self._data_dir / f"task-{task.id}"

    async def _run(self, task: Task, *, resumed: bool) -> None:
        workdir = self._workdir(task)
        was_posting = resumed and task.state is TaskState.POSTING  # it may have posted before it stopped
        progress = TaskProgress(self._store, self._delivery, task, self._pacing)
        failed = undelivered = False
        try:
            if task.state in (TaskState.FAILED, TaskState.UNDELIVERED):
                await self._tell_failure(task, check_thread=True)
                return
            if task.state is TaskState.RUNNING and _kept_files(task):  # *Try again* on an undelivered result
                logger.info("task %d: posting its kept result again", task.id)
                task = await self._store.set_state(task.id, TaskState.POSTING)
                was_posting = True  # an earlier try may have reached the thread after all
            prepared: tuple[Job, Plan] | None = None
            if task.state in (TaskState.RUNNING, TaskState.POLLING):
                task, prepared = await self._cut(task, workdir, progress)
            if task.state is TaskState.DOWNLOADING:
                await self._stop_if_cancelled(task)
                task = await self._download(task, workdir, prepared)
            # From here the result is finished and paid for: a cancel no longer drops it.
            undelivered = not await self._post(task, check_thread=was_posting)
            await progress.close(ProgressStage.NOT_POSTED if undelivered else ProgressStage.FINISHED)
        except TaskCancelled:
            logger.info("task %d %s: cancelled by its owner", task.id, task.spec.mode)
            await self._store.finish(
                task.id,
                TaskState.CANCELLED,
                error_code="CANCELLED",
                error_message="cancelled by its owner",
                notified=True,
            )
            await progress.close(ProgressStage.CANCELLED)
        except TaskFailure as failure:
            logger.info("task %d %s: failed %s", task.id, task.spec.mode, failure.code)
            await self._fail(task, failure.code, failure.user_text())
            failed = True
        except Exception:
            logger.exception("task %d %s: internal error", task.id, task.spec.mode)
            await self._fail(task, "INTERNAL_ERROR", INTERNAL_ERROR_TEXT.format(name=quote(task.file.name)))
            failed = True
        if failed:
            await progress.close(ProgressStage.FAILED)
        await self._clean_up(task, workdir, keep_files=undelivered)

    async def _clean_up(self, task: Task, workdir: Path, *, keep_files: bool) -> None:
        """Remove the work folder unless it holds a result still owed (undelivered), and show the message's
        outcome."""
        if not keep_files:
            await asyncio.to_thread(
                shutil.rmtree, workdir, ignore_errors=True
            )  # file system calls off the loop
        await self._show_message_progress(task)

    async def _prepare(self, task: Task, engine: CutoutEngine, workdir: Path) -> tuple[Job, Plan]:
        workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        job = await self._sources.job_for(task, engine, workdir)
        return job, await plan(job, engine, self._engines.image_work, workdir)

    async def _stop_if_cancelled(self, task: Task) -> None:
        if await self._store.cancel_requested(task.id):
            raise TaskCancelled

    async def _cut(self, task: Task, workdir: Path, progress: TaskProgress) -> tuple[Task, tuple[Job, Plan]]:
        """Fetch the image and have it cut; returns the task in `downloading` with the answer stored, and
        the job and plan the answer is finished with."""
        started = time.monotonic()
        engine = self._engines.for_spec(task.spec)
        resuming = task.vendor_task_id if task.state is TaskState.POLLING else None
        if not resuming:
            task = await self._store.set_state(task.id, TaskState.RUNNING, vendor=engine.name)
        progress.task = task
        await self._delivery.working(task)
        job, job_plan = await self._prepare(task, engine, workdir)
        await self._stop_if_cancelled(task)
        parts = await call_engine(engine, job_plan, progress, vendor_task_id=resuming)
        await self._stop_if_cancelled(task)
        logger.info(
            "task %d %s %s: cut in %.1f s, %d part(s)%s",
            task.id,
            task.spec.mode,
            engine.name,
            time.monotonic() - started,
            len(parts),
            " (restoring full size)" if job_plan.restore else "",
        )
        stored = []
        for index, part in enumerate(parts):
            if part.content is not None:
                path = workdir / f"inline-{index}"
                path.write_bytes(part.content)
                stored.append(StoredPart(part.role, path=str(path), note=part.note))
            else:
                stored.append(StoredPart(part.role, url=part.url, note=part.note))
        return await self._store.save_vendor_parts(task.id, stored), (job, job_plan)

    async def _download(self, task: Task, workdir: Path, prepared: tuple[Job, Plan] | None) -> Task:
        """Fetch and finish the stored answer; returns the task in `posting` with its files on disk.
        `prepared` is what the cut was planned with; resumed after a restart, the plan is made again."""
        engine = self._engines.for_spec(task.spec)
        job, job_plan = prepared or await self._prepare(task, engine, workdir)
        parts = [
            ResultPart(p.role, url=p.url, content=Path(p.path).read_bytes() if p.path else None)
            for p in task.vendor_parts
        ]
        result = await finish(job, job_plan, parts, engine, self._engines.image_work, workdir)
        report = ResultReport(
            spec=task.spec.words(),
            engine=engine.name,
            original_size=result.original_size,
            result_size=result.result_size,
            seconds=time.time() - (task.started_at or task.created_at),
            notes=tuple(p.note for p in task.vendor_parts if p.note),
        )
        return await self._store.save_results(task.id, result.files, summary=report.to_json())

    async def _post(self, task: Task, *, check_thread: bool) -> bool:
        """Post the finished files; False when Slack would not take them (the task is then `undelivered`,
        its files kept and the reason told in the thread)."""
        marker = f"task #{task.id}"
        if check_thread and await self._in_thread(task, marker, with_files=True):
            logger.info("task %d: its results are already in the thread; not posting again", task.id)
        else:
            try:
                await self._delivery.deliver(task)
            except TaskFailure as failure:
                await self._undelivered(task, failure.code, failure.user_text())
                return False
            except Exception:
                logger.exception("task %d: posting the result failed", task.id)
                await self._undelivered(
                    task, "POST_FAILED", "Something went wrong on our side while posting the result."
                )
                return False
            logger.info(
                "task %d %s %s: posted %d file(s)",
                task.id,
                task.spec.mode,
                task.vendor,
                len(task.result_files),
            )
        await self._store.finish(task.id, TaskState.DONE, notified=True)
        return True

    async def _undelivered(self, task: Task, error_code: str, reason: str) -> None:
        logger.warning(
            "task %d %s: result kept, Slack did not take it (%s)", task.id, task.spec.mode, error_code
        )
        task = await self._store.finish(
            task.id,
            TaskState.UNDELIVERED,
            error_code=error_code,
            error_message=UNDELIVERED_TEXT.format(reason=reason),
        )
        await self._tell_failure(task, check_thread=False)

    async def _fail(self, task: Task, code: str, text: str) -> None:
        """Record the failure first (its reason is never lost), then tell it in the thread."""
        task = await self._store.finish(task.id, TaskState.FAILED, error_code=code, error_message=text)
        await self._tell_failure(task, check_thread=False)

    async def _tell_failure(self, task: Task, *, check_thread: bool) -> None:
        marker = f"task #{task.id}"
        if not (check_thread and await self._in_thread(task, marker)):
            reason = task.error_message or "The task failed."
            try:
                await self._delivery.tell_failure(task, reason)
            except TaskFailure as failure:
                logger.warning("task %d: could not post its failure in the thread: %s", task.id, failure.code)
                return
        await self._store.mark_notified(task.id)

    async def _in_thread(self, task: Task, marker: str, *, with_files: bool = False) -> bool:
        """Whether the bot already said `marker` in the task's thread (Slack shows uploads a moment late)."""
        for attempt in range(2):
            if await self._delivery.already_said(task, marker, with_files=with_files):
                return True
            if attempt == 0:
                await asyncio.sleep(self._pacing.recheck_thread_after_s)
        return False

    async def _show_message_progress(self, task: Task) -> None:
        """When the newest task of every image in the message is final, swap the hourglass for ✓ or ✗."""
        newest = {
            t.file.file_id: t for t in await self._store.tasks_for_message(task.channel_id, task.message_ts)
        }
        states = {t.state for t in newest.values()}
        if any(not state.final for state in states):
            return
        if TaskState.FAILED in states or TaskState.UNDELIVERED in states:
            await self._delivery.message_outcome(task, Outcome.FAILED)
        elif TaskState.DONE in states:
            await self._delivery.message_outcome(task, Outcome.DONE)
        else:
            await self._delivery.message_outcome(task, Outcome.NONE)


def _kept_files(task: Task) -> bool:
    """Whether the task has finished files from an earlier run, all still on disk."""
    return bool(task.result_files) and all(Path(file.path).is_file() for file in task.result_files)
