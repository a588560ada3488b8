"""Limits on images sent to paid vendors, and the usage they count: one `usage` row per task that reached a
paid vendor, written only while every limit that applies has room — in one statement run one at a time
(`_rows_one_at_a_time`), so ten images arriving at once never overshoot, on one instance or a fleet."""

from __future__ import annotations

from bot.domain.tasks import Task
from bot.domain.usage import (
    WORKSPACE,
    LimitRefusal,
    LimitScope,
    Period,
    UsageLimit,
    UsageReport,
    next_reset,
    period_start,
)
from bot.domain.vendors import LOCAL
from storage.queries.base import Database

USAGE_LOCK = "cutout-usage"

# The limits that apply to a task (its channel's, the workspace's, its person's) with their period's start,
# and how many images each has counted since: `?` 1–2 day and month starts, 3 channel, 4 user.
_APPLYING = """
    SELECT l.scope, l.target, l.period, l.max_images,
           (SELECT COUNT(*) FROM usage u
            WHERE u.at >= CASE l.period WHEN 'day' THEN ? ELSE ? END
              AND (l.scope = 'workspace'
                   OR (l.scope = 'channel' AND u.channel_id = l.target)
                   OR (l.scope = 'user' AND u.user_id = l.target))) AS used
    FROM usage_limits l
    WHERE l.scope = 'workspace' OR (l.scope = 'channel' AND l.target = ?) OR (l.scope = 'user' AND l.target = ?)
"""


class UsageQueries(Database):
    async def set_limit(self, limit: UsageLimit, *, set_by: str) -> None:
        await self._rows(
            """
            INSERT INTO usage_limits (scope, target, period, max_images, set_by, set_at) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (scope, target) DO UPDATE SET period = excluded.period, max_images = excluded.max_images,
                set_by = excluded.set_by, set_at = excluded.set_at
            """,
            (limit.scope.value, limit.target, limit.period.value, limit.max_images, set_by, self._clock()),
        )

    async def remove_limit(self, scope: LimitScope, target: str) -> bool:
        """Remove a limit; False when there was none."""
        rows = await self._rows(
            "DELETE FROM usage_limits WHERE scope = ? AND target = ? RETURNING scope", (scope.value, target)
        )
        return bool(rows)

    async def limits(self) -> list[UsageLimit]:
        rows = await self._rows(
            "SELECT scope, target, period, max_images FROM usage_limits ORDER BY scope, target"
        )
        return [UsageLimit(LimitScope(r[0]), r[1], Period(r[2]), int(r[3])) for r in rows]

    async def admit(self, task: Task, vendor: str, *, again: bool = True) -> LimitRefusal | None:
        """Count `task` as an image sent to `vendor` — unless a limit that applies has no room left: then
        nothing is counted and the refusal says which limit and when it resets. A task already counted is
        admitted again (a resumed task counts once)."""
        now = self._clock()
        day, month = period_start(Period.DAY, now), period_start(Period.MONTH, now)
        applying = (day, month, task.channel_id, task.user_id)
        admitted = await self._rows_one_at_a_time(
            USAGE_LOCK,
            f"""
            INSERT INTO usage (task_id, vendor, channel_id, user_id, at)
            SELECT ?, ?, ?, ?, ?
            WHERE NOT EXISTS (SELECT 1 FROM ({_APPLYING}) a WHERE a.used >= a.max_images)
            ON CONFLICT (task_id) DO NOTHING
            RETURNING task_id
            """,  # noqa: S608 - _APPLYING is ours
            (task.id, vendor, task.channel_id, task.user_id, now, *applying),
        )
        if admitted or await self._rows("SELECT 1 FROM usage WHERE task_id = ?", (task.id,)):
            return None
        rows = await self._rows(_APPLYING, applying)
        full = [r for r in rows if int(r[4]) >= int(r[3])]
        if not full:  # room came free in between: try once more
            return await self.admit(task, vendor, again=False) if again else None
        row = full[0]
        limit = UsageLimit(LimitScope(str(row[0])), str(row[1]), Period(str(row[2])), int(row[3]))
        return LimitRefusal(limit, next_reset(limit.period, now))

    async def release_usage(self, task: Task) -> None:
        """Uncount a task whose vendor refused it without charging (no credits, a bad key)."""
        await self._rows("DELETE FROM usage WHERE task_id = ?", (task.id,))

    async def usage_report(self, since: float) -> UsageReport:
        """Images sent to paid vendors since `since`, by engine, channel and person; and the local engine's."""

        async def counted(column: str) -> dict[str, int]:
            rows = await self._rows(
                f"SELECT {column}, COUNT(*) FROM usage WHERE at >= ? GROUP BY {column} ORDER BY 2 DESC, 1",  # noqa: S608
                (since,),
            )
            return {str(r[0]): int(r[1]) for r in rows}

        local = await self._rows(
            "SELECT COUNT(*) FROM tasks WHERE vendor = ? AND created_at >= ?", (LOCAL, since)
        )
        return UsageReport(
            since,
            await counted("vendor"),
            await counted("channel_id"),
            await counted("user_id"),
            int(local[0][0]),
        )


__all__ = ["USAGE_LOCK", "WORKSPACE", "UsageQueries"]
