"""The store's contract, on SQLite and on a real PostgreSQL server alike: migrations, tasks and their
claims, leases and fencing, images, armed specs, channel settings. (SQLite's file, WAL and migration
details are checked on SQLite alone.)"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sqlite3
import stat
import time
from pathlib import Path

import aiosqlite
import psycopg
import pytest

from bot.domain.grammar import Mode, Output, Spec, parse_spec
from bot.domain.listing import Preset
from bot.domain.routing import Gate
from bot.domain.tasks import (
    ImageRecord,
    LeaseLost,
    NewTask,
    ResultFile,
    SourceFile,
    StoredPart,
    Task,
    TaskSource,
    TaskState,
)
from bot.domain.usage import WORKSPACE, LimitScope, Period, UsageLimit
from fakes.net import wait_for
from storage import Store
from storage.postgres.migrations import MIGRATIONS as PG_MIGRATIONS
from storage.postgres.migrations import apply_migrations as apply_pg_migrations
from storage.sqlite.migrations import MIGRATIONS, Migration, apply_migrations


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where a store lives: an SQLite file, or a fresh database on the throwaway PostgreSQL server."""
    if request.param == "sqlite":
        return tmp_path / "db" / "cutout.db"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
async def store(database: str | Path, clock: FakeClock):
    opened = await Store.open(database, clock=clock, owner="instance-a")
    yield opened
    await opened.close()


def a_file(n: int = 1) -> SourceFile:
    return SourceFile(f"F{n}", f"shirt{n}.jpg", "image/jpeg", f"https://files.example/F{n}", 1234)


def a_task(
    n: int = 1, *, spec: str = "apparel tops white", user: str = "U1", key: str | None = None
) -> NewTask:
    return NewTask(
        team_id="T1",
        channel_id="C1",
        user_id=user,
        message_ts="100.1",
        thread_ts="100.1",
        file=a_file(n),
        spec=parse_spec(spec),
        source=TaskSource.UPLOAD,
        dedupe_key=key,
    )


async def test_fresh_database_is_migrated_wal_and_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "new" / "cutout.db"
    store = await Store.open(path)
    await store.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        names = [row[0] for row in db.execute("SELECT name FROM _migrations ORDER BY name")]
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert names == [m.name for m in MIGRATIONS]
    assert {"tasks", "images", "armed_specs", "channel_settings", "seen_events"} <= tables


async def test_reopening_applies_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "cutout.db"
    await (await Store.open(path)).close()
    async with aiosqlite.connect(path, isolation_level=None) as db:
        assert await apply_migrations(db) == []


async def test_upgrade_applies_only_the_new_migration(tmp_path: Path) -> None:
    path = tmp_path / "cutout.db"
    await (await Store.open(path)).close()
    extra = Migration("9999_test_column", ("ALTER TABLE tasks ADD COLUMN note TEXT",))
    async with aiosqlite.connect(path, isolation_level=None) as db:
        assert await apply_migrations(db, (*MIGRATIONS, extra)) == ["9999_test_column"]
        async with db.execute("SELECT note FROM tasks") as cursor:
            assert await cursor.fetchall() == []


async def test_a_failing_migration_leaves_no_record_and_no_change(tmp_path: Path) -> None:
    path = tmp_path / "cutout.db"
    await (await Store.open(path)).close()
    broken = Migration("9999_broken", ("CREATE TABLE half (x INTEGER)", "THIS IS NOT SQL"))
    async with aiosqlite.connect(path, isolation_level=None) as db:
        with pytest.raises(sqlite3.OperationalError):
            await apply_migrations(db, (*MIGRATIONS, broken))
        async with db.execute("SELECT name FROM sqlite_master WHERE name = 'half'") as cursor:
            assert await cursor.fetchall() == []
        async with db.execute("SELECT COUNT(*) FROM _migrations WHERE name = '9999_broken'") as cursor:
            assert (await cursor.fetchone())[0] == 0


async def test_task_round_trip_keeps_every_field(store: Store, clock: FakeClock) -> None:
    task = await store.create_task(a_task(spec="apparel tops,coat whiteBK"))
    assert task is not None
    assert task.state is TaskState.QUEUED
    assert task.spec == Spec(Mode.APPAREL, output=Output.WHITE, classes=("tops", "coat"))
    assert task.file == a_file(1)
    assert (task.channel_id, task.user_id, task.thread_ts, task.team_id) == ("C1", "U1", "100.1", "T1")
    assert task.created_at == clock.now
    assert await store.get_task(task.id) == task


async def test_dedupe_key_makes_one_task(store: Store) -> None:
    assert await store.create_task(a_task(key="upload:C1:100.1:F1")) is not None
    assert await store.create_task(a_task(key="upload:C1:100.1:F1")) is None
    assert await store.queue_length() == 1


async def test_claim_takes_oldest_queued_once_and_counts_attempts(store: Store) -> None:
    first = await store.create_task(a_task(1))
    second = await store.create_task(a_task(2))
    assert first and second
    claimed = await store.claim_next_task()
    assert claimed is not None
    assert claimed.id == first.id
    assert claimed.state is TaskState.RUNNING
    assert claimed.attempts == 1
    assert claimed.started_at is not None
    again = await store.claim_next_task()
    assert again is not None
    assert again.id == second.id
    assert await store.claim_next_task() is None


async def test_claiming_many_takes_the_oldest_in_order_and_no_more(store: Store) -> None:
    created = [await store.create_task(a_task(n)) for n in range(1, 6)]
    ids = [task.id for task in created if task is not None]
    first = await store.claim_tasks(3)
    assert [task.id for task in first] == ids[:3]
    assert all(task.state is TaskState.RUNNING and task.attempts == 1 for task in first)
    rest = await store.claim_tasks(10)
    assert [task.id for task in rest] == ids[3:]
    assert await store.claim_tasks(4) == []
    assert await store.queue_length() == 0


async def test_task_walks_through_its_states(store: Store, clock: FakeClock) -> None:
    created = await store.create_task(a_task())
    assert created
    claimed = await store.claim_next_task()
    assert claimed is not None
    running = await store.set_state(claimed, TaskState.RUNNING, vendor="AILabTools")
    assert running.vendor == "AILabTools"
    files = [ResultFile("/data/1/a.png", "a.png", "A")]
    posting = await store.save_results(running, files, summary="done in 1 s")
    assert posting.state is TaskState.POSTING
    assert posting.result_files == tuple(files)
    assert posting.summary == "done in 1 s"
    clock.now += 5
    done = await store.finish(posting, TaskState.DONE)
    assert done.state is TaskState.DONE
    assert done.finished_at == clock.now
    assert done.vendor == "AILabTools"


async def test_failure_records_code_and_reason(store: Store) -> None:
    assert await store.create_task(a_task())
    claimed = await store.claim_next_task()
    assert claimed is not None
    failed = await store.finish(
        claimed, TaskState.FAILED, error_code="ERROR_NOT_ENOUGH_CREDITS", error_message="no credits"
    )
    assert (failed.state, failed.error_code, failed.error_message) == (
        TaskState.FAILED,
        "ERROR_NOT_ENOUGH_CREDITS",
        "no credits",
    )


async def test_images_latest_message_within_the_window(store: Store, clock: FakeClock) -> None:
    for ts, n in (("100.1", 1), ("100.1", 2), ("200.2", 3)):
        await store.record_image(ImageRecord("C1", ts, ts, "U1", a_file(n)))
        clock.now += 1
    await store.record_image(ImageRecord("C1", "300.3", "300.3", "U2", a_file(9)))
    await store.record_image(ImageRecord("C2", "400.4", "400.4", "U1", a_file(8)))
    latest = await store.latest_image_message("C1", "U1", within_s=600)
    assert [(i.message_ts, i.file.file_id) for i in latest] == [("200.2", "F3")]
    clock.now += 601
    assert await store.latest_image_message("C1", "U1", within_s=600) == []


async def test_latest_message_returns_all_its_images(store: Store) -> None:
    for n in (1, 2, 3):
        await store.record_image(ImageRecord("C1", "100.1", "99.0", "U1", a_file(n)))
    latest = await store.latest_image_message("C1", "U1", within_s=600)
    assert [i.file.file_id for i in latest] == ["F1", "F2", "F3"]
    assert {i.thread_ts for i in latest} == {"99.0"}


async def test_armed_spec_is_taken_once_and_expires(store: Store, clock: FakeClock) -> None:
    spec = parse_spec("portrait mask")
    await store.arm_spec("C1", "U1", spec, ttl_s=600)
    assert await store.take_armed_spec("C1", "U2") is None
    assert await store.take_armed_spec("C2", "U1") is None
    assert await store.take_armed_spec("C1", "U1") == spec
    assert await store.take_armed_spec("C1", "U1") is None
    await store.arm_spec("C1", "U1", spec, ttl_s=600)
    clock.now += 601
    assert await store.take_armed_spec("C1", "U1") is None


async def test_arming_again_replaces_the_spec(store: Store) -> None:
    await store.arm_spec("C1", "U1", parse_spec("portrait mask"), ttl_s=600)
    await store.arm_spec("C1", "U1", parse_spec("apparel pants"), ttl_s=600)
    assert await store.take_armed_spec("C1", "U1") == parse_spec("apparel pants")


async def test_channel_settings_default_and_auto(store: Store) -> None:
    settings = await store.channel_settings("C1")
    assert (settings.default_spec, settings.auto) == (None, True)
    await store.set_channel_default("C1", parse_spec("apparel whiteBK"), user_id="U1")
    await store.set_channel_auto("C1", False, user_id="U2")
    settings = await store.channel_settings("C1")
    assert settings.default_spec == parse_spec("apparel white")
    assert settings.auto is False
    assert (await store.channel_settings("C2")).auto is True


async def test_the_presets_a_channel_used_last_come_newest_first(store: Store, clock: FakeClock) -> None:
    assert await store.recent_presets("C1") == []
    for preset in (Preset.AMAZON, Preset.ETSY, Preset.EBAY, Preset.AMAZON):
        clock.now += 1
        await store.note_preset("C1", preset)
    assert await store.recent_presets("C1") == [Preset.AMAZON, Preset.EBAY]
    assert await store.recent_presets("C1", limit=5) == [Preset.AMAZON, Preset.EBAY, Preset.ETSY]
    assert await store.recent_presets("C2") == []


async def test_event_ids_are_remembered_once_marked(store: Store) -> None:
    assert await store.event_seen("Ev1") is False
    await store.mark_event("Ev1")
    await store.mark_event("Ev1")
    assert await store.event_seen("Ev1") is True
    assert await store.event_seen("Ev2") is False


async def test_user_tasks_and_cancel(store: Store) -> None:
    mine = [await store.create_task(a_task(n)) for n in range(3)]
    other = await store.create_task(a_task(9, user="U2"))
    assert all(mine) and other
    running = await store.claim_next_task()  # mine[0] is running now
    assert running is not None
    cancelled, flagged = await store.request_cancel("U1")
    assert [t.id for t in cancelled] == [mine[1].id, mine[2].id]  # type: ignore[union-attr]
    assert all(t.state is TaskState.CANCELLED and t.notified_at for t in cancelled)
    assert [(t.id, t.state, t.cancel_requested) for t in flagged] == [(mine[0].id, TaskState.RUNNING, True)]  # type: ignore[union-attr]
    assert await store.cancel_requested(running) is True
    assert (await store.get_task(other.id)).cancel_requested is False  # type: ignore[union-attr]
    assert (await store.get_task(other.id)).state is TaskState.QUEUED  # type: ignore[union-attr]
    unfinished = await store.user_tasks("U1", unfinished=True)
    assert [t.id for t in unfinished] == [mine[0].id]  # type: ignore[union-attr]
    assert [t.id for t in await store.user_tasks("U1")] == [t.id for t in reversed(mine)]  # type: ignore[union-attr]


async def test_cancel_one_task_only_if_it_is_the_users(store: Store) -> None:
    task = await store.create_task(a_task(1))
    assert task
    assert await store.request_cancel("U2", task.id) == ([], [])
    cancelled, flagged = await store.request_cancel("U1", task.id)
    assert ([t.id for t in cancelled], flagged) == ([task.id], [])


async def test_vendor_parts_and_notification_are_kept(store: Store) -> None:
    from bot.domain.tasks import StoredPart

    assert await store.create_task(a_task())
    task = await store.claim_next_task()
    assert task
    parts = [
        StoredPart("result", url="https://cdn.example/r.png"),
        StoredPart("tops", path="/data/1/inline-1"),
    ]
    saved = await store.save_vendor_parts(task, parts)
    assert saved.state is TaskState.DOWNLOADING
    assert saved.vendor_parts == tuple(parts)
    failed = await store.finish(task, TaskState.FAILED, error_code="X", error_message="why")
    assert failed.notified_at is None
    await store.mark_notified(task)
    told = await store.get_task(task.id)
    assert told is not None and told.notified_at is not None and told.lease_until is None
    assert await store.create_task(a_task(2))
    other = await store.claim_next_task()
    assert other
    done = await store.finish(other, TaskState.DONE, notified=True)
    assert done.notified_at == done.finished_at


async def test_queue_position_counts_from_the_next_task(store: Store) -> None:
    tasks = [await store.create_task(a_task(n)) for n in range(3)]
    assert all(tasks)
    assert [await store.queue_position(t.id) for t in tasks] == [1, 2, 3]  # type: ignore[union-attr]
    await store.claim_next_task()
    assert [await store.queue_position(t.id) for t in tasks] == [0, 1, 2]  # type: ignore[union-attr]


async def test_upgrade_from_the_first_schema_keeps_tasks(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    async with aiosqlite.connect(path, isolation_level=None) as db:
        assert await apply_migrations(db, MIGRATIONS[:1]) == ["0001_initial"]
        await db.execute(
            """INSERT INTO tasks (channel_id, user_id, message_ts, thread_ts, file_id, file_name, file_mimetype,
               file_url, spec, mode, source, state, created_at, updated_at)
               VALUES ('C1', 'U1', '1.1', '1.1', 'F1', 'a.jpg', 'image/jpeg', 'https://f', 'apparel', 'apparel',
               'upload', 'downloading', 1, 1)"""
        )
    store = await Store.open(path)
    try:
        (task,) = await store.claim_tasks(5)  # left in `downloading` by a process long gone: taken over
        assert (task.state, task.vendor_parts, task.notified_at) == (TaskState.DOWNLOADING, (), None)
    finally:
        await store.close()


async def test_upgrade_to_numbered_claims_keeps_unfinished_tasks(
    database: str | Path, clock: FakeClock
) -> None:
    """A task left unfinished under the schema before claims were numbered is claimed, and fenced, after."""
    if isinstance(database, Path):
        database.parent.mkdir(parents=True)
        async with aiosqlite.connect(database, isolation_level=None) as db:
            await apply_migrations(db, tuple(m for m in MIGRATIONS if m.name < "0006"))
            await db.execute(_OLD_TASK)
    else:
        async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
            await apply_pg_migrations(conn, PG_MIGRATIONS[:1])
            await conn.execute(_OLD_TASK)
    store = await Store.open(database, clock=clock, owner="instance-a")
    try:
        (task,) = await store.claim_tasks(5)
        assert (task.state, task.claim) == (TaskState.POLLING, 1)
        assert (await store.set_state(task, TaskState.DOWNLOADING)).state is TaskState.DOWNLOADING
    finally:
        await store.close()


_OLD_TASK = """
    INSERT INTO tasks (channel_id, user_id, message_ts, thread_ts, file_id, file_name, file_mimetype, file_url,
        spec, mode, source, state, vendor_task_id, owner, lease_until, created_at, updated_at)
    VALUES ('C1', 'U1', '1.1', '1.1', 'F1', 'a.jpg', 'image/jpeg', 'https://f', 'segment', 'segment',
        'upload', 'polling', 'job-1', 'gone', 1, 1, 1)
"""


# --- claims, leases and fencing: two instances on one database -------------------------------------


@pytest.fixture
async def other(database: str | Path, clock: FakeClock, store: Store):
    """A second instance on the same database (opened after `store`, before anything is claimed)."""
    opened = await Store.open(database, clock=clock, owner="instance-b")
    yield opened
    await opened.close()


async def test_a_task_left_by_a_stopped_instance_is_taken_over_after_its_lease(
    store: Store, other: Store, clock: FakeClock
) -> None:
    created = await store.create_task(a_task())
    assert created
    claimed = await store.claim_next_task()
    assert claimed is not None and (claimed.owner, claimed.lease_until) == ("instance-a", clock.now + 60)
    await store.set_vendor_task(claimed, "job-7")
    assert await other.claim_tasks(5) == []  # the lease is live
    clock.now += 61
    (taken,) = await other.claim_tasks(5)
    assert (taken.id, taken.state, taken.vendor_task_id, taken.owner) == (
        created.id,
        TaskState.POLLING,
        "job-7",
        "instance-b",
    )
    assert taken.attempts == 2
    with pytest.raises(LeaseLost):  # the first instance wakes up: it changes nothing
        await store.save_vendor_parts(claimed, [StoredPart("result", url="https://cdn.example/r.png")])
    with pytest.raises(LeaseLost):
        await store.finish(claimed, TaskState.FAILED, error_code="X", error_message="late")
    with pytest.raises(LeaseLost):  # asked at its next step, it learns it should stop
        await store.cancel_requested(claimed)
    assert await store.get_task(created.id) == taken
    assert await other.cancel_requested(taken) is False


async def test_a_task_claimed_again_by_the_same_instance_refuses_the_first_claims_writes(
    store: Store, clock: FakeClock
) -> None:
    """The loop stalled (or the database was away) past the lease, and the instance claimed its own task
    again: the first claim's work — same owner — changes nothing."""
    assert await store.create_task(a_task())
    first = await store.claim_next_task()
    assert first is not None
    first = await store.set_state(first, TaskState.RUNNING, vendor="AILabTools")
    clock.now += 61
    (second,) = await store.claim_tasks(5)
    assert (second.id, second.owner, second.attempts) == (first.id, first.owner, 2)
    assert second.claim != first.claim
    with pytest.raises(LeaseLost):
        await store.save_vendor_parts(first, [StoredPart("result", url="https://cdn.example/r.png")])
    with pytest.raises(LeaseLost):
        await store.finish(first, TaskState.DONE, notified=True)
    with pytest.raises(LeaseLost):
        await store.mark_notified(first)
    with pytest.raises(LeaseLost):
        await store.cancel_requested(first)
    assert await store.renew_leases([first]) == set()
    await store.release_leases([first])  # changes nothing either
    assert await store.get_task(first.id) == second
    assert await store.renew_leases([second]) == {second.id}
    assert (await store.save_vendor_parts(second, [])).state is TaskState.DOWNLOADING


async def test_a_task_still_worked_on_is_not_claimed_again_and_its_renewal_keeps_it(
    store: Store, other: Store, clock: FakeClock
) -> None:
    assert await store.create_task(a_task(1)) and await store.create_task(a_task(2))
    working, stalled = await store.claim_tasks(2)
    clock.now += 61  # both leases ran out: the renewals were late
    assert await store.claim_tasks(5, busy=[working.id, stalled.id]) == []
    assert await store.renew_leases([working]) == {working.id}  # nobody took it meanwhile: still ours
    (taken,) = await other.claim_tasks(5)
    assert taken.id == stalled.id
    assert await store.renew_leases([working, stalled]) == {working.id}
    assert await store.claim_tasks(5, busy=[]) == []


async def test_try_again_queues_an_undelivered_task_owned_by_nobody(store: Store, other: Store) -> None:
    assert await store.create_task(a_task())
    claimed = await store.claim_next_task()
    assert claimed
    await store.finish(claimed, TaskState.UNDELIVERED, error_code="SLACK_UPLOAD_FAILED", error_message="no")
    await store.mark_notified(claimed)
    queued = await other.requeue_undelivered(claimed.id)  # *Try again*, through either instance
    assert queued is not None
    assert (queued.state, queued.owner, queued.lease_until, queued.attempts) == (
        TaskState.QUEUED,
        None,
        None,
        0,
    )
    with pytest.raises(LeaseLost):  # the claim that made it undelivered writes nothing more
        await store.mark_notified(claimed)
    (taken,) = await other.claim_tasks(5)
    assert (taken.id, taken.state, taken.owner, taken.attempts) == (
        claimed.id,
        TaskState.RUNNING,
        "instance-b",
        1,
    )


async def test_renewing_keeps_tasks_and_says_which_were_lost(
    store: Store, other: Store, clock: FakeClock
) -> None:
    assert await store.create_task(a_task(1)) and await store.create_task(a_task(2))
    first, second = await store.claim_tasks(2)
    clock.now += 50
    assert await store.renew_leases([first, second]) == {first.id, second.id}
    clock.now += 50  # 100 s after the claim, 50 after the renewal
    assert await other.claim_tasks(5) == []
    clock.now += 20
    assert {t.id for t in await other.claim_tasks(5)} == {first.id, second.id}
    assert await store.renew_leases([first, second]) == set()
    assert await store.renew_leases([]) == set()


async def test_released_tasks_are_taken_over_at_once(store: Store, other: Store) -> None:
    created = await store.create_task(a_task())
    assert created
    claimed = await store.claim_next_task()
    assert claimed
    await store.release_leases([claimed])
    (taken,) = await other.claim_tasks(5)
    assert (taken.id, taken.owner) == (created.id, "instance-b")


async def test_a_failure_not_yet_told_is_taken_over_and_a_told_one_is_not(
    store: Store, other: Store, clock: FakeClock
) -> None:
    assert await store.create_task(a_task(1)) and await store.create_task(a_task(2))
    untold, told = await store.claim_tasks(2)
    await store.finish(untold, TaskState.FAILED, error_code="X", error_message="why")
    await store.finish(told, TaskState.FAILED, error_code="X", error_message="why", notified=True)
    clock.now += 61
    (taken,) = await other.claim_tasks(5)
    assert (taken.id, taken.state) == (untold.id, TaskState.FAILED)
    await other.mark_notified(taken)
    clock.now += 61
    assert await store.claim_tasks(5) == []


async def test_a_cancel_taken_by_one_instance_is_seen_by_the_one_working(store: Store, other: Store) -> None:
    assert await store.create_task(a_task())
    claimed = await store.claim_next_task()
    assert claimed
    assert await store.cancel_requested(claimed) is False
    _, flagged = await other.request_cancel("U1")
    assert [t.id for t in flagged] == [claimed.id]
    assert await store.cancel_requested(claimed) is True


async def test_instances_claiming_at_once_never_share_a_task(store: Store, other: Store) -> None:
    created = [await store.create_task(a_task(n)) for n in range(40)]
    assert all(created)

    async def claim_all(instance: Store) -> list[int]:
        mine: list[int] = []
        while claimed := await instance.claim_tasks(3):
            mine += [task.id for task in claimed]
        return mine

    a, b = await asyncio.gather(claim_all(store), claim_all(other))
    assert not set(a) & set(b)
    assert sorted(a + b) == [task.id for task in created if task]


async def test_an_unsettled_request_is_replayed_once_it_is_old_and_by_one_instance(
    store: Store, other: Store, clock: FakeClock
) -> None:
    entry_id = await store.inbox_add({"type": "event_callback", "event_id": "Ev1"})
    assert await other.inbox_to_replay(60) == []  # young: its own instance may still be recording it
    clock.now += 61
    (entry,) = await other.inbox_to_replay(60)
    assert (entry.id, entry.body["event_id"], entry.attempts) == (entry_id, "Ev1", 1)
    assert await store.inbox_to_replay(60) == []  # held by the instance replaying it
    assert [e.id for e in await store.inbox_entries()] == [entry_id]


# --- PostgreSQL only: start-up of several instances, limits across the fleet -----------------------


async def test_instances_starting_at_once_migrate_once(postgres_url: str) -> None:
    stores = await asyncio.gather(*(Store.open(postgres_url, owner=f"i{n}") for n in range(4)))
    try:
        async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
            cursor = await conn.execute("SELECT name FROM _migrations ORDER BY name")
            assert [row[0] for row in await cursor.fetchall()] == [m.name for m in PG_MIGRATIONS]
    finally:
        for store in stores:
            await store.close()


async def test_vendor_limits_hold_across_instances(postgres_url: str) -> None:
    stores = [await Store.open(postgres_url, owner=f"i{n}") for n in range(3)]
    at_once = most_at_once = 0
    starts: list[float] = []

    async def call(limits) -> None:
        nonlocal at_once, most_at_once
        async with limits.call():
            starts.append(time.monotonic())
            at_once += 1
            most_at_once = max(most_at_once, at_once)
            await asyncio.sleep(0.3)  # long enough for the next start to come while this call runs
            at_once -= 1

    try:
        limits = [store.vendor_limits("PicWish", concurrency=2, per_second=10) for store in stores]
        await asyncio.gather(*(call(limits[n % 3]) for n in range(12)))
    finally:
        for store in stores:
            await store.close()
    assert most_at_once == 2
    gaps = [later - earlier for earlier, later in zip(sorted(starts), sorted(starts)[1:], strict=False)]
    assert min(gaps) >= 0.1 * 0.95  # 10 a second across the three instances, evenly spaced


async def test_vendor_calls_hold_no_connection_of_the_stores_own(postgres_url: str) -> None:
    """More calls at once than the store's pool has connections: all run, and the store still answers."""
    from storage.postgres.store import POOL_SIZE

    store = await Store.open(postgres_url, owner="i1")
    calls = POOL_SIZE + 2
    inside, leave = [0], asyncio.Event()

    async def call(limits) -> None:
        async with limits.call():
            inside[0] += 1
            await leave.wait()

    try:
        limits = store.vendor_limits("PicWish", concurrency=calls, per_second=None)
        running = [asyncio.create_task(call(limits)) for _ in range(calls)]
        try:
            await wait_for(lambda: inside[0] == calls, timeout=5, what="every call inside its slot")
            assert await asyncio.wait_for(store.queue_length(), 2) == 0
        finally:
            leave.set()
            await asyncio.gather(*running)
    finally:
        await store.close()


async def test_a_killed_instances_vendor_slot_is_freed(postgres_url: str) -> None:
    first, second = await Store.open(postgres_url, owner="i1"), await Store.open(postgres_url, owner="i2")
    held = first.vendor_limits("AILabTools", concurrency=1, per_second=None).call()
    try:
        await held.__aenter__()
        waiting = asyncio.create_task(
            _enter_and_leave(second.vendor_limits("AILabTools", concurrency=1, per_second=None))
        )
        await asyncio.sleep(0.3)
        assert not waiting.done()  # the only slot is taken
        async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as admin:
            # the holder's connection drops, as when its process is killed
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            )
        await asyncio.wait_for(waiting, 5)
    finally:
        with contextlib.suppress(psycopg.Error):
            await held.__aexit__(None, None, None)
        await first.close()
        await second.close()


async def _enter_and_leave(limits) -> None:
    async with limits.call():
        pass


@pytest.mark.parametrize("where", ["taking the slot", "giving it back"])
async def test_a_call_cancelled_while_its_slot_lock_changes_hands_leaves_no_lock_behind(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """The cancel lands in the worst place: just after the server took the slot's lock and before the caller
    saw it, or (a second cancel, the first having ended the call) just before the unlock is sent."""
    first, second = await Store.open(postgres_url, owner="i1"), await Store.open(postgres_url, owner="i2")
    at_the_lock = asyncio.Event()
    real_execute = psycopg.AsyncConnection.execute

    async def execute(self, query, params=None, **kwargs):  # type: ignore[no-untyped-def]
        if "unlock" in str(query):
            at_the_lock.set()
            await asyncio.sleep(0.3)
        cursor = await real_execute(self, query, params, **kwargs)
        if "pg_try_advisory_lock" in str(query) and where == "taking the slot":
            at_the_lock.set()
            await asyncio.sleep(0.3)
        return cursor

    async def call_forever() -> None:
        async with first.vendor_limits("AILabTools", concurrency=1, per_second=None).call():
            in_the_call.set()
            await asyncio.Event().wait()

    in_the_call = asyncio.Event()
    monkeypatch.setattr(psycopg.AsyncConnection, "execute", execute)
    try:
        caller = asyncio.create_task(call_forever())
        if where == "giving it back":
            await asyncio.wait_for(in_the_call.wait(), 5)
            caller.cancel()  # the call ends; its slot is being given back when the second cancel comes
        await asyncio.wait_for(at_the_lock.wait(), 5)
        caller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await caller
        # the slot is free: another instance takes it at once, not when the pool recycles a connection
        await asyncio.wait_for(
            _enter_and_leave(second.vendor_limits("AILabTools", concurrency=1, per_second=None)), 3
        )
    finally:
        await first.close()
        await second.close()


async def test_work_queued_by_one_instance_wakes_the_others(postgres_url: str) -> None:
    listening, queuing = (
        await Store.open(postgres_url, owner="i1"),
        await Store.open(postgres_url, owner="i2"),
    )
    woken = asyncio.Event()
    try:
        await listening.listen(woken.set)
        await asyncio.wait_for(
            woken.wait(), 5
        )  # it wakes once on connecting: work may have been queued before
        woken.clear()
        await listening.claim_tasks(1)  # nothing yet
        assert not woken.is_set()
        await queuing.create_task(a_task())
        await asyncio.wait_for(woken.wait(), 5)
    finally:
        await listening.close()
        await queuing.close()


async def test_processes_opening_a_new_sqlite_file_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "cutout.db"
    stores = await asyncio.gather(*(Store.open(path) for _ in range(4)))
    for store in stores:
        await store.close()
    with sqlite3.connect(path) as db:
        names = [row[0] for row in db.execute("SELECT name FROM _migrations ORDER BY name")]
    assert names == [m.name for m in MIGRATIONS]


async def test_a_vendors_breaker_holds_for_every_instance_and_lets_one_probe(
    store: Store, other: Store, clock: FakeClock
) -> None:
    assert await store.breaker_gate("AILabTools") == Gate(open=False)
    await store.open_breaker("AILabTools", "AILabTools has no credits left", for_s=600)
    for instance in (store, other):  # on PostgreSQL: the fleet; on SQLite: two stores on one file
        gate = await instance.breaker_gate("AILabTools")
        assert gate.open and gate.reason == "AILabTools has no credits left"
    assert await store.breaker_gate("Aidge") == Gate(open=False)
    assert await other.open_breakers() == {"AILabTools": "AILabTools has no credits left"}
    clock.now += 601
    gates = [await store.breaker_gate("AILabTools"), await other.breaker_gate("AILabTools")]
    assert sorted(g.probe for g in gates) == [False, True]  # exactly one task probes
    assert [g.open for g in gates if not g.probe] == [True]
    await other.close_breaker("AILabTools")  # the probe answered
    assert await store.breaker_gate("AILabTools") == Gate(open=False)
    assert await store.open_breakers() == {}


async def usage_task(store: Store, n: int, *, channel: str = "C1", user: str = "U1") -> Task:
    """A task recorded in `channel` by `user`, as the usage queries see it."""
    task = await store.create_task(dataclasses.replace(a_task(n, user=user), channel_id=channel))
    assert task is not None
    return task


async def test_limits_are_set_listed_removed_and_counted_once(store: Store, clock: FakeClock) -> None:
    clock.now = 1_764_979_200.0  # 2025-12-06 00:00 UTC
    await store.set_limit(UsageLimit(LimitScope.CHANNEL, "C1", Period.DAY, 2), set_by="U9")
    await store.set_limit(UsageLimit(LimitScope.USER, "U2", Period.MONTH, 1), set_by="U9")
    assert await store.limits() == [
        UsageLimit(LimitScope.CHANNEL, "C1", Period.DAY, 2),
        UsageLimit(LimitScope.USER, "U2", Period.MONTH, 1),
    ]
    first, second, third = [await usage_task(store, n) for n in (1, 2, 3)]
    assert await store.admit(first, "AILabTools") is None
    assert await store.admit(first, "AILabTools") is None  # resumed: counted once
    assert await store.admit(second, "Aidge") is None
    refusal = await store.admit(third, "AILabTools")
    assert refusal is not None and refusal.limit == UsageLimit(LimitScope.CHANNEL, "C1", Period.DAY, 2)
    assert refusal.resets_at == clock.now + 86400
    await store.release_usage(second)  # refused by its vendor without a charge
    assert await store.admit(third, "AILabTools") is None
    other_channel = await usage_task(store, 4, channel="C2", user="U2")
    assert await store.admit(other_channel, "PicWish") is None
    fifth = await usage_task(store, 5, channel="C3", user="U2")
    assert (await store.admit(fifth, "PicWish")).limit.scope is LimitScope.USER  # type: ignore[union-attr]
    clock.now += 86400  # the next day: the channel's day limit has room again
    assert await store.admit(await usage_task(store, 6), "AILabTools") is None
    assert await store.remove_limit(LimitScope.CHANNEL, "C1") is True
    assert await store.remove_limit(LimitScope.CHANNEL, "C1") is False
    report = await store.usage_report(clock.now - 2 * 86400)
    assert report.by_engine == {"AILabTools": 3, "PicWish": 1}
    assert report.by_channel == {"C1": 3, "C2": 1} and report.by_user == {"U1": 3, "U2": 1}


async def test_a_burst_never_overshoots_a_limit(store: Store, other: Store) -> None:
    await store.set_limit(UsageLimit(LimitScope.WORKSPACE, WORKSPACE, Period.DAY, 3), set_by="U9")
    tasks = [await usage_task(store, n) for n in range(10)]
    verdicts = await asyncio.gather(
        *(
            (store if n % 2 else other).admit(task, "AILabTools")  # two instances on PostgreSQL
            for n, task in enumerate(tasks)
        )
    )
    assert sum(verdict is None for verdict in verdicts) == 3
    assert (await other.usage_report(0)).by_engine == {"AILabTools": 3}
