"""One task carried through its steps, from where it stands to its thread.

Every step records its outcome before the next one starts, so when the instance working on a task stops
at any moment — a restart, a `kill -9`, a frozen or cut-off machine — the task is resumed from where it
stopped, by this instance after a restart or by any other once its lease has run out:

    running      the image is fetched and the vendor called; taken up again, it starts over (nothing kept)
    polling      an asynchronous vendor has the job (its id is stored): it is polled, never re-created
    downloading  the vendor's answer is stored (URLs, inline data on disk): fetched again, not re-called
    posting      the finished files are on disk: posted — unless the thread already has them
    done/failed  told in the thread (`notified_at`); a failure recorded but not yet told is told when the
                 task is taken up again
    undelivered  Slack kept refusing the result: its files are kept, and the owner's *Try again* queues the
                 task again, which posts them with no new vendor call

Work folders are a cache: an instance resuming a task another left re-fetches what it needs (the source,
the vendor's result URL, or the vendor's job), and re-cuts only what was kept nowhere else (results the
vendor sent inline). Every write about the task is fenced by its owner: once another instance has taken
it over, LeaseLost ends the work here.

A task taken up again after `max_attempts` interruptions (a crash or kill each time, perhaps caused by
the task itself) is failed with that reason instead of being run, and billed, once more.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

from bot.domain.failures import TaskFailure, VendorError
from bot.domain.reports import ProgressStage, ResultReport
from bot.domain.routing import ROUTED, Gate, left_out_reason
from bot.domain.tasks import LeaseLost, StoredPart, Task, TaskState
from bot.domain.text import quote
from bot.domain.usage import LimitRefusal, when_text
from bot.domain.vendors import LOCAL, ROUTE_NAMES
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


class TaskSteps:
    """What is done to one claimed task; `take_up` is the way in."""

    def __init__(
        self,
        store: Store,
        engines: Engines,
        delivery: Delivery,
        sources: ImageSources,
        *,
        data_dir: Path,
        max_attempts: int,
        pacing: Pacing = DEFAULT_PACING,
        breaker_s: float = 600.0,
    ) -> None:
        self._store = store
        self._engines = engines
        self._delivery = delivery
        self._sources = sources
        self._data_dir = data_dir
        self._max_attempts = max_attempts
        self._pacing = pacing
        self._breaker_s = breaker_s  # CUTOUT_BREAKER_S
        self._paid = frozenset(ROUTE_NAMES.values()) - {LOCAL}  # the vendors, whose breakers are kept

    async def take_up(self, task: Task) -> None:
        """Work on a claimed task from where it stands: new, left unfinished by a stopped instance (this
        one before a restart, or another), or final with its message still owed to the thread."""
        if task.state.final:
            await self._tell_owed(task)
            return
        if task.attempts > self._max_attempts:  # this claim is its attempt number `attempts`
            stops = task.attempts - 1
            logger.warning(
                "task %d: stopped %d times (last at %s); failing it instead of running it again",
                task.id,
                stops,
                task.state,
            )
            text = TOO_MANY_ATTEMPTS_TEXT.format(attempts=stops, name=quote(task.file.name))
            await self._fail(task, "TOO_MANY_ATTEMPTS", text)
            await self._clean_up(task, self._workdir(task), keep_files=False)
            return
        may_have_posted = task.state is TaskState.POSTING or bool(task.result_files)
        resume_at = resume_point(task)
        if task.attempts > 1 or resume_at is not task.state:
            logger.info("task %d: taken up again at %s (was %s)", task.id, resume_at, task.state)
        if resume_at is not task.state:
            task = await self._store.set_state(task, resume_at)
        await self._run(task, may_have_posted=may_have_posted)

    async def _tell_owed(self, task: Task) -> None:
        """A failed or undelivered task whose message its instance did not get into the thread: tell it now
        — unless it has been claimed more than twice `max_attempts` times (Slack keeps refusing the
        message): then log it and give up. (A done task is marked told when its result is posted.)"""
        if task.state is TaskState.DONE or task.attempts > 2 * self._max_attempts:
            logger.warning("task %d: %s; its message is not posted again", task.id, task.state)
            await self._store.mark_notified(task)
            return
        logger.info("task %d: %s but not yet told in its thread; telling it now", task.id, task.state)
        await self._tell_failure(task, check_thread=True)
        await self._clean_up(task, self._workdir(task), keep_files=task.state.keeps_files)

    def _workdir(self, task: Task) -> Path:
        return self._data_dir / f"task-{task.id}"

    async def _run(self, task: Task, *, may_have_posted: bool) -> None:
        """Carry the task from its state to the thread. `may_have_posted`: an earlier run got as far as
        posting, so the thread is checked before posting again."""
        workdir = self._workdir(task)
        progress = TaskProgress(self._store, self._delivery, task, self._pacing)
        failed = undelivered = False
        try:
            prepared: tuple[Job, Plan] | None = None
            if task.state in (TaskState.RUNNING, TaskState.POLLING):
                task, prepared = await self._cut(task, workdir, progress)
            if task.state is TaskState.DOWNLOADING:
                await self._stop_if_cancelled(task)
                task = await self._download(task, workdir, prepared)
            # From here the result is finished and paid for: a cancel no longer drops it.
            undelivered = not await self._post(task, check_thread=may_have_posted)
            await progress.close(ProgressStage.NOT_POSTED if undelivered else ProgressStage.FINISHED)
        except LeaseLost:  # another instance has the task now; this folder was only a cache
            await asyncio.to_thread(shutil.rmtree, workdir, ignore_errors=True)
            raise
        except TaskCancelled:
            logger.info("task %d %s: cancelled by its owner", task.id, task.spec.mode)
            await self._store.finish(
                task,
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
        if await self._store.cancel_requested(task):
            raise TaskCancelled

    async def _cut(self, task: Task, workdir: Path, progress: TaskProgress) -> tuple[Task, tuple[Job, Plan]]:
        """Fetch the image and have it cut — by the first engine of its route that can serve it (a vendor's
        job already accepted is polled, never sent elsewhere); returns the task in `downloading` with the
        answer stored, and the job and plan the answer is finished with."""
        started = time.monotonic()
        resuming = task.vendor_task_id if task.state is TaskState.POLLING else None
        await self._delivery.working(task)
        if resuming:
            engine = self._engines.by_name(task.vendor) or self._engines.for_spec(task.spec)
            progress.task = task
            job, job_plan = await self._prepare(task, engine, workdir)
            await self._stop_if_cancelled(task)
            parts = await call_engine(engine, job_plan, progress, vendor_task_id=resuming)
        else:
            task, engine, (job, job_plan), parts = await self._cut_on_route(task, workdir, progress)
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
        return await self._store.save_vendor_parts(task, stored), (job, job_plan)

    async def _cut_on_route(
        self, task: Task, workdir: Path, progress: TaskProgress
    ) -> tuple[Task, CutoutEngine, tuple[Job, Plan], list[ResultPart]]:
        """Try the route's engines in order. A vendor that says it cannot serve the account (no credits, a
        bad key: `bot.domain.routing.ROUTED`) is left out for `breaker_s` — for the fleet, in the database —
        and the next engine cuts; the reply says why. Anything else fails the task as before."""
        left_out: list[str] = []
        refused: VendorError | None = None
        for engine in self._engines.route(task.spec):
            gate = (
                await self._store.breaker_gate(engine.name) if engine.name in self._paid else Gate(open=False)
            )
            if gate.open:
                left_out.append(gate.reason)
                continue
            task = await self._store.set_state(task, TaskState.RUNNING, vendor=engine.name)
            progress.task = task
            job, job_plan = await self._prepare(task, engine, workdir)
            await self._stop_if_cancelled(task)
            if engine.name in self._paid and (refusal := await self._store.admit(task, engine.name)):
                raise LimitReached(refusal, engine.name, time.time())
            try:
                parts = await call_engine(engine, job_plan, progress)
            except VendorError as error:
                if error.kind not in ROUTED or progress.vendor_task_id:
                    raise
                await self._store.release_usage(task)  # refused, not charged: the next engine counts it
                reason = left_out_reason(engine.name, error.kind)
                logger.warning(
                    "task %d: %s (%s); leaving it out for %.0f s",
                    task.id,
                    reason,
                    error.code,
                    self._breaker_s,
                )
                await self._store.open_breaker(engine.name, reason, for_s=self._breaker_s)
                left_out.append(f"{reason} ({engine.name} code {error.code})")
                refused = error
                continue
            if gate.probe:
                await self._store.close_breaker(engine.name)
                logger.info("task %d: %s answered again; back in its routes", task.id, engine.name)
            if left_out:
                said = "; ".join(left_out) + f": cut on {_the(engine.name)}"
                first = parts[0]
                parts[0] = dataclasses.replace(first, note=f"{said}; {first.note}" if first.note else said)
            return task, engine, (job, job_plan), parts
        if refused is not None and len(left_out) == 1:
            # the only engine it could go to said why: say it as the vendor said it, and what to change
            refused.detail = f"{refused.detail} {NOTHING_ELSE}".strip()
            raise refused
        raise RouteExhausted(task.spec.mode.value, left_out)

    async def _download(self, task: Task, workdir: Path, prepared: tuple[Job, Plan] | None) -> Task:
        """Fetch and finish the stored answer; returns the task in `posting` with its files on disk.
        `prepared` is what the cut was planned with; resumed after a restart, the plan is made again."""
        engine = self._engines.by_name(task.vendor) or self._engines.for_spec(task.spec)
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
            notes=tuple(p.note for p in task.vendor_parts if p.note) + result.notes,  # (the listing's)
            compliance=result.compliance,
        )
        return await self._store.save_results(task, result.files, summary=report.to_json())

    async def _post(self, task: Task, *, check_thread: bool) -> bool:
        """Post the finished files; False when Slack would not take them (the task is then `undelivered`,
        its files kept and the reason told in the thread)."""
        marker = f"task #{task.id}"
        if task.id not in await self._store.renew_leases([task]):  # posting is not undone: be sure first
            raise LeaseLost(task.id)
        if task.spec.layout is not None and task.spec.layout.preset is not None:
            await self._store.note_preset(task.channel_id, task.spec.layout.preset)  # for the buttons
        if check_thread and await self._in_thread(task, marker, with_files=bool(task.result_files)):
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
        await self._store.finish(task, TaskState.DONE, notified=True)
        return True

    async def _undelivered(self, task: Task, error_code: str, reason: str) -> None:
        logger.warning(
            "task %d %s: result kept, Slack did not take it (%s)", task.id, task.spec.mode, error_code
        )
        task = await self._store.finish(
            task,
            TaskState.UNDELIVERED,
            error_code=error_code,
            error_message=UNDELIVERED_TEXT.format(reason=reason),
        )
        await self._tell_failure(task, check_thread=False)

    async def _fail(self, task: Task, code: str, text: str) -> None:
        """Record the failure first (its reason is never lost), then tell it in the thread."""
        task = await self._store.finish(task, TaskState.FAILED, error_code=code, error_message=text)
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
        await self._store.mark_notified(task)

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


NOTHING_ELSE = (
    "No other engine is in this mode's route (CUTOUT_ROUTES): whoever runs the bot can fix the vendor account "
    "or add ‘local’ to the route; a spec with the word ‘local’ runs on the local engine now."
)


class LimitReached(TaskFailure):
    """A usage limit has no room: the image was not sent to the vendor."""

    def __init__(self, refusal: LimitRefusal, vendor: str, now: float) -> None:
        super().__init__(
            code="LIMIT_REACHED",
            message=f"This image was not sent to {vendor}: {refusal.limit.describe()} is reached. It resets "
            f"{when_text(refusal.resets_at, now)}. The local engine still works: reply here with the spec and "
            "the word ‘local’, or run ‘/cutout … local’.",
        )


class RouteExhausted(TaskFailure):
    """No engine of the route could take the task: each vendor was left out, and nothing else can cut it."""

    def __init__(self, mode: str, left_out: list[str]) -> None:
        reasons = "; ".join(left_out) if left_out else "no engine is configured for it"
        super().__init__(
            code="NO_ENGINE_LEFT", message=f"No engine could cut this {mode} image: {reasons}. {NOTHING_ELSE}"
        )


def _the(name: str) -> str:
    return "the local engine" if name == LOCAL else name


def resume_point(task: Task) -> TaskState:
    """Where a claimed unfinished task goes on from, given what is kept and where: its finished files if
    this machine has them all (a restart, or *Try again* on an undelivered result); else the vendor's
    answer if it can be fetched again (result URLs; inline results only if this machine kept them); else
    the vendor's job if it has an id; else the start."""
    if task.state in (TaskState.RUNNING, TaskState.POSTING) and _here(f.path for f in task.result_files):
        return TaskState.POSTING
    if task.state is TaskState.POLLING:
        return TaskState.POLLING if task.vendor_task_id else TaskState.RUNNING
    answer_kept = bool(task.vendor_parts) and all(
        part.url or _here([part.path]) for part in task.vendor_parts
    )
    if answer_kept and (task.state is not TaskState.RUNNING or task.result_files):  # not a fresh start
        return TaskState.DOWNLOADING
    if task.vendor_task_id:  # an asynchronous vendor's answer, sent inline, kept on another machine
        return TaskState.POLLING  # the finished job answers again: no new job, no new bill
    return TaskState.RUNNING


def _here(paths: Iterable[str | None]) -> bool:
    """Whether there are paths and each is a file on this machine."""
    found = [path is not None and Path(path).is_file() for path in paths]
    return bool(found) and all(found)
