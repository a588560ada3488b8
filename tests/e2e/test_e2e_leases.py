"""Leases seen from one instance: a task's lease that runs out while this instance still works on it (the
database was away, the loop stalled) is not claimed again here — one job a task, one vendor call, one
post — on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.domain.tasks import Task, TaskState
from fakes.images import jpeg_bytes
from fakes.net import wait_for
from tests.e2e.harness import running_bot


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "sqlite":
        return {}
    return {"CUTOUT_DATABASE_URL": request.getfixturevalue("postgres_url")}


async def test_a_lease_that_runs_out_under_a_running_job_is_not_claimed_again_by_its_instance(
    tmp_path: Path, database: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_bot(tmp_path, CUTOUT_LEASE_S="1", **database) as harness:
        store = harness.store
        harness.ailab.gate = asyncio.Event()  # the vendor call is held until the test opens it
        renew, claim = store.renew_leases, store.claim_tasks
        late_claims: list[list[Task]] = []  # claims made after the task's lease ran out

        async def database_away(claimed: Any) -> set[int]:
            raise OSError("the database is away")

        async def claim_tasks(limit: int, **kwargs: Any) -> list[Task]:
            lease_ran_out = any(
                task.lease_until is not None and task.lease_until < store._clock()
                for task in await store.user_tasks("U0ALICE", unfinished=True)
            )
            claimed = await claim(limit, **kwargs)
            if lease_ran_out:
                late_claims.append(claimed)
            return claimed

        monkeypatch.setattr(store, "renew_leases", database_away)
        monkeypatch.setattr(store, "claim_tasks", claim_tasks)
        slack = harness.slack
        event = await harness.drop_image([slack.host_file("shirt.jpg", jpeg_bytes())])
        await wait_for(lambda: harness.ailab.waiting == 1, what="the vendor call")
        # Renewals fail for longer than the lease; the runner looks for work meanwhile (woken, as when
        # another task is queued).
        await wait_for(lambda: late_claims, timeout=5, what="a claim after the lease ran out")
        harness.bot.runner.notify()  # type: ignore[union-attr]
        await wait_for(lambda: len(late_claims) >= 2, timeout=5, what="another claim")
        assert late_claims[0] == late_claims[1] == []
        assert harness.ailab.waiting == 1  # no second call for the same task
        monkeypatch.setattr(store, "renew_leases", renew)  # the database is back
        harness.ailab.gate.set()
        (posted,) = await wait_for(lambda: slack.file_messages, what="the result")
        await harness.bot.runner.run_until_idle()  # type: ignore[union-attr]
        assert posted.thread_ts == event["ts"]
        assert len(slack.file_messages) == 1 and len(harness.ailab.requests) == 1
        (task,) = await store.tasks_for_message(event["channel"], event["ts"])
        assert (task.state, task.attempts, task.claim) == (TaskState.DONE, 1, 1)
