"""Tasks: queue, claim, every step of their life, cancel requests, and what users and the App Home read.

Claims and leases: an instance claims tasks (`claim_tasks`), which makes it their owner until
`lease_until`; it renews the lease while it works (`renew_leases`). Each claim of a task is numbered
(`claim`, carried by the claimed Task), and every write the runner makes about a task (`set_state` …
`mark_notified`, the renewal, the release, the cancel check) is fenced by that claim: once the task has
been claimed again — by another instance, or by this one — the write changes nothing and raises
LeaseLost. A task whose lease ran out — its owner was killed, froze or lost the database — is claimed by
any instance like a queued one, and resumed from its state. The runner never claims again a task it is
still working on (`busy`): if nobody else claimed it meanwhile, its renewal keeps it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from bot.domain.tasks import (
    UNFINISHED_STATES,
    LeaseLost,
    NewTask,
    ResultFile,
    StoredPart,
    Task,
    TaskState,
    Usage,
)
from storage.queries.base import Database
from storage.rows import Row, task_of


class TaskQueries(Database):
    async def create_task(self, new: NewTask) -> Task | None:
        """Queue a task; None when a task with the same dedupe key already exists."""
        now = self._clock()
        rows = await self._rows(
            """
                INSERT INTO tasks
                    (team_id, channel_id, user_id, message_ts, thread_ts, file_id, file_name, file_mimetype,
                     file_url, file_size, file_external, spec, mode, source, dedupe_key, state, created_at,
                     updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?)
                ON CONFLICT DO NOTHING
                RETURNING *
                """,
            (
                new.team_id,
                new.channel_id,
                new.user_id,
                new.message_ts,
                new.thread_ts,
                new.file.file_id,
                new.file.name,
                new.file.mimetype,
                new.file.url,
                new.file.size,
                new.file.external,
                new.spec.words(),
                new.spec.mode.value,
                new.source.value,
                new.dedupe_key,
                now,
                now,
            ),
        )
        row = rows[0] if rows else None
        return task_of(row) if row is not None else None

    async def get_task(self, task_id: int) -> Task | None:
        rows = await self._rows("SELECT * FROM tasks WHERE id = ?", (task_id,))
        row = rows[0] if rows else None
        return task_of(row) if row is not None else None

    async def claim_tasks(self, limit: int, *, busy: Iterable[int] = ()) -> list[Task]:
        """Claim up to `limit` tasks, oldest first, in one statement: queued ones (now `running`) and ones
        whose owner's lease ran out (in the state it left them, or final but not yet told in the thread).
        Each claim counts an attempt, makes this instance the owner for one lease and takes a new claim
        number, which refuses the writes of any earlier claim. `busy`: ids of tasks this instance is still
        working on, never claimed again here even when their lease ran out (a stalled loop, a database
        away): their work goes on, and its renewal keeps them unless another instance claimed them."""
        busy_ids = list(busy)
        not_busy = f"id NOT IN ({','.join('?' for _ in busy_ids)}) AND " if busy_ids else ""
        now = self._clock()
        rows = await self._rows(
            f"""
            UPDATE tasks
            SET state = CASE WHEN state = 'queued' THEN 'running' ELSE state END, attempts = attempts + 1,
                claim = claim + 1, owner = ?, lease_until = ?, updated_at = ?,
                started_at = COALESCE(started_at, ?)
            WHERE id IN (
                SELECT id FROM tasks
                WHERE {not_busy}(state = 'queued'
                   OR (lease_until < ? AND (state IN ('running', 'polling', 'downloading', 'posting')
                       OR (state IN ('done', 'failed', 'undelivered') AND notified_at IS NULL))))
                ORDER BY id LIMIT ?{self.SKIP_LOCKED})
            RETURNING *
            """,  # noqa: S608 - SKIP_LOCKED and the placeholders are ours
            (self.owner, now + self.lease_s, now, now, *busy_ids, now, limit),
        )
        return sorted((task_of(row) for row in rows), key=lambda task: task.id)

    async def claim_next_task(self) -> Task | None:
        """`claim_tasks` for one task."""
        claimed = await self.claim_tasks(1)
        return claimed[0] if claimed else None

    async def renew_leases(self, claimed: Iterable[Task]) -> set[int]:
        """Extend the lease of these claimed tasks; returns the ids of the ones whose claim still holds (a
        task missing from the answer was claimed again, or is gone). A lease that ran out with nobody
        claiming the task meanwhile is renewed too."""
        rows = await self._claimed_rows("lease_until = ?", (self._clock() + self.lease_s,), claimed)
        return {int(row[0]) for row in rows}

    async def release_leases(self, claimed: Iterable[Task]) -> None:
        """Give these unfinished claimed tasks up at once (a stop with work left): any instance may take
        them now."""
        await self._claimed_rows("lease_until = 0", (), claimed)

    async def _claimed_rows(
        self, assignments: str, values: tuple[Any, ...], claimed: Iterable[Task]
    ) -> list[Row]:
        """`UPDATE tasks SET <assignments>` on those of these tasks whose claim still holds; their ids."""
        pairs = [(task.id, task.claim) for task in claimed]
        if not pairs:
            return []
        which = " OR ".join("(id = ? AND claim = ?)" for _ in pairs)
        return await self._rows(
            f"UPDATE tasks SET {assignments} WHERE owner = ? AND ({which}) RETURNING id",  # noqa: S608 - ours
            (*values, self.owner, *(value for pair in pairs for value in pair)),
        )

    async def requeue_undelivered(self, task_id: int) -> Task | None:
        """Queue an undelivered task again to post its kept files (the owner clicked *Try again*); None when
        the task is not undelivered (any more). Its attempts start again from zero, and it belongs to no
        instance until one claims it: the claim that left it undelivered writes nothing more."""
        rows = await self._rows(
            """
            UPDATE tasks SET state = 'queued', attempts = 0, error_code = NULL, error_message = NULL,
                finished_at = NULL, notified_at = NULL, owner = NULL, lease_until = NULL, updated_at = ?
            WHERE id = ? AND state = 'undelivered' RETURNING *
            """,
            (self._clock(), task_id),
        )
        return task_of(rows[0]) if rows else None

    async def set_state(self, task: Task, state: TaskState, *, vendor: str | None = None) -> Task:
        """Move an unfinished task to a non-final state (and record which vendor runs it)."""
        assert not state.final
        fields: dict[str, Any] = {"state": state.value}
        if vendor is not None:
            fields["vendor"] = vendor
        return await self._update(task, **fields)

    async def set_vendor_task(self, task: Task, vendor_task_id: str) -> Task:
        """Record an asynchronous vendor's job id and move the task to `polling`, in one statement."""
        return await self._update(task, state=TaskState.POLLING.value, vendor_task_id=vendor_task_id)

    async def save_vendor_parts(self, task: Task, parts: Iterable[StoredPart]) -> Task:
        """Record what the vendor returned and move the task to `downloading`."""
        payload = json.dumps([{"role": p.role, "url": p.url, "path": p.path, "note": p.note} for p in parts])
        return await self._update(task, state=TaskState.DOWNLOADING.value, vendor_parts=payload)

    async def save_results(self, task: Task, files: Iterable[ResultFile], *, summary: str) -> Task:
        """Record the finished files on disk and move the task to `posting`."""
        payload = json.dumps([{"path": f.path, "name": f.name, "title": f.title} for f in files])
        return await self._update(task, state=TaskState.POSTING.value, result_files=payload, summary=summary)

    async def finish(
        self,
        task: Task,
        state: TaskState,
        *,
        error_code: str | None = None,
        error_message: str | None = None,
        notified: bool = False,
    ) -> Task:
        """Make a task final; `notified` when its outcome is already told in the thread."""
        assert state.final
        now = self._clock()
        fields: dict[str, Any] = {"lease_until": None} if notified else {}  # nothing more to do: no lease
        return await self._update(
            task,
            state=state.value,
            error_code=error_code,
            error_message=error_message,
            finished_at=now,
            notified_at=now if notified else None,
            **fields,
        )

    async def mark_notified(self, task: Task) -> None:
        """The task's result or failure has been told in its thread."""
        await self._update(task, notified_at=self._clock(), lease_until=None)

    async def queue_position(self, task_id: int) -> int:
        """1 for the next task to run; 0 when the task is not queued."""
        rows = await self._rows(
            """
            SELECT CASE WHEN (SELECT state FROM tasks WHERE id = ?) = 'queued'
                   THEN (SELECT COUNT(*) FROM tasks WHERE state = 'queued' AND id <= ?) ELSE 0 END
            """,
            (task_id, task_id),
        )
        row = rows[0] if rows else None
        return int(row[0]) if row else 0

    async def delete_finished_before(self, cutoff: float) -> list[int]:
        """Forget tasks, images, event ids and armed specs older than `cutoff`; return the task ids removed."""
        rows = await self._rows(
            "DELETE FROM tasks WHERE state IN ('done', 'failed', 'cancelled', 'undelivered') AND finished_at < ? "
            "RETURNING id",
            (cutoff,),
        )
        removed = [int(row[0]) for row in rows]
        await self._rows("DELETE FROM images WHERE created_at < ?", (cutoff,))
        await self._rows("DELETE FROM seen_events WHERE seen_at < ?", (cutoff,))
        await self._rows("DELETE FROM armed_specs WHERE expires_at < ?", (self._clock(),))
        return removed

    async def _update(self, task: Task, **fields: Any) -> Task:
        """Write a task under the claim `task` carries; LeaseLost when that claim no longer holds."""
        fields["updated_at"] = self._clock()
        assignments = ", ".join(f"{name} = ?" for name in fields)
        rows = await self._rows(
            f"UPDATE tasks SET {assignments} WHERE id = ? AND owner = ? AND claim = ? RETURNING *",  # noqa: S608 - names are ours
            (*fields.values(), task.id, self.owner, task.claim),
        )
        if not rows:
            raise LeaseLost(task.id)
        return task_of(rows[0])

    async def tasks_for_message(self, channel_id: str, message_ts: str) -> list[Task]:
        rows = await self._rows(
            "SELECT * FROM tasks WHERE channel_id = ? AND message_ts = ? ORDER BY id",
            (channel_id, message_ts),
        )
        return [task_of(row) for row in rows]

    async def user_tasks(self, user_id: str, *, unfinished: bool = False, limit: int = 10) -> list[Task]:
        """The user's tasks, newest first; only the unfinished ones when asked."""
        where = "user_id = ?"
        params: list[Any] = [user_id]
        if unfinished:
            where += f" AND state IN ({','.join('?' for _ in UNFINISHED_STATES)})"
            params.extend(state.value for state in UNFINISHED_STATES)
        rows = await self._rows(
            f"SELECT * FROM tasks WHERE {where} ORDER BY id DESC LIMIT ?",  # noqa: S608
            (*params, limit),
        )
        return [task_of(row) for row in rows]

    async def queue_length(self) -> int:
        rows = await self._rows("SELECT COUNT(*) FROM tasks WHERE state = 'queued'")
        row = rows[0] if rows else None
        return int(row[0]) if row else 0

    async def request_cancel(self, user_id: str, task_id: int | None = None) -> tuple[list[Task], list[Task]]:
        """Cancel the user's unfinished tasks (or one of them). Queued ones are cancelled at once; ones
        already running are flagged and stop at their next step; a finished result being posted (`posting`)
        is not stopped. Returns (cancelled, flagged)."""
        now = self._clock()
        where = "user_id = ?"
        params: list[Any] = [user_id]
        if task_id is not None:
            where += " AND id = ?"
            params.append(task_id)
        rows = await self._rows(
            f"""
            UPDATE tasks SET state = 'cancelled', error_code = 'CANCELLED',
                error_message = 'cancelled by its owner', updated_at = ?, finished_at = ?, notified_at = ?
            WHERE {where} AND state = 'queued' RETURNING *
            """,  # noqa: S608
            (now, now, now, *params),
        )
        cancelled = [task_of(row) for row in rows]
        rows = await self._rows(
            f"""
            UPDATE tasks SET cancel_requested = 1, updated_at = ?
            WHERE {where} AND cancel_requested = 0
                AND state IN ('running', 'polling', 'downloading') RETURNING *
            """,  # noqa: S608
            (now, *params),
        )
        flagged = [task_of(row) for row in rows]
        return cancelled, flagged

    async def cancel_requested(self, task: Task) -> bool:
        """Whether the task's owner asked to stop it (whichever instance took the request). Asked under the
        claim `task` carries at every step: LeaseLost when that claim no longer holds."""
        rows = await self._rows("SELECT cancel_requested, owner, claim FROM tasks WHERE id = ?", (task.id,))
        if not rows or (rows[0][1], rows[0][2]) != (self.owner, task.claim):
            raise LeaseLost(task.id)
        return bool(rows[0][0])

    async def set_progress_message(self, task: Task, ts: str) -> None:
        await self._update(task, progress_ts=ts)

    async def usage_since(self, since: float) -> Usage:
        """Tasks created since `since`, counted by mode and by engine (tasks that never reached one: "none")."""
        rows = await self._rows(
            "SELECT mode, COUNT(*) FROM tasks WHERE created_at >= ? GROUP BY mode ORDER BY mode", (since,)
        )
        by_mode = {row[0]: int(row[1]) for row in rows}
        rows = await self._rows(
            "SELECT COALESCE(vendor, 'none'), COUNT(*) FROM tasks WHERE created_at >= ? GROUP BY 1 ORDER BY 1",
            (since,),
        )
        by_vendor = {row[0]: int(row[1]) for row in rows}
        return Usage(by_mode, by_vendor)
