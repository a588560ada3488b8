"""The SQLite store: migrations, tasks, images, armed specs, channel settings."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import aiosqlite
import pytest

from bot.domain.grammar import Mode, Output, Spec, parse_spec
from bot.domain.tasks import ImageRecord, NewTask, ResultFile, SourceFile, TaskSource, TaskState
from storage import Store
from storage.migrations import MIGRATIONS, Migration, apply_migrations


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(tmp_path: Path, clock: FakeClock):
    opened = await Store.open(tmp_path / "db" / "cutout.db", clock=clock)
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
    await store.claim_next_task()
    running = await store.set_state(created.id, TaskState.RUNNING, vendor="AILabTools")
    assert running.vendor == "AILabTools"
    files = [ResultFile("/data/1/a.png", "a.png", "A")]
    posting = await store.save_results(created.id, files, summary="done in 1 s")
    assert posting.state is TaskState.POSTING
    assert posting.result_files == tuple(files)
    assert posting.summary == "done in 1 s"
    clock.now += 5
    done = await store.finish(created.id, TaskState.DONE)
    assert done.state is TaskState.DONE
    assert done.finished_at == clock.now
    assert done.vendor == "AILabTools"


async def test_failure_records_code_and_reason(store: Store) -> None:
    created = await store.create_task(a_task())
    assert created
    failed = await store.finish(
        created.id, TaskState.FAILED, error_code="ERROR_NOT_ENOUGH_CREDITS", error_message="no credits"
    )
    assert (failed.state, failed.error_code, failed.error_message) == (
        TaskState.FAILED,
        "ERROR_NOT_ENOUGH_CREDITS",
        "no credits",
    )


async def test_interrupted_tasks_are_the_started_unfinished_ones(store: Store) -> None:
    ids = []
    for n in range(4):
        task = await store.create_task(a_task(n))
        assert task
        ids.append(task.id)
    await store.claim_next_task()
    await store.claim_next_task()
    await store.finish(ids[1], TaskState.DONE)
    await store.set_state(ids[2], TaskState.DOWNLOADING)
    assert [t.id for t in await store.interrupted_tasks()] == [ids[0], ids[2]]


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
    await store.claim_next_task()  # mine[0] is running now
    cancelled, flagged = await store.request_cancel("U1")
    assert [t.id for t in cancelled] == [mine[1].id, mine[2].id]  # type: ignore[union-attr]
    assert all(t.state is TaskState.CANCELLED and t.notified_at for t in cancelled)
    assert [(t.id, t.state, t.cancel_requested) for t in flagged] == [(mine[0].id, TaskState.RUNNING, True)]  # type: ignore[union-attr]
    assert await store.cancel_requested(mine[0].id) is True  # type: ignore[union-attr]
    assert await store.cancel_requested(other.id) is False
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

    task = await store.create_task(a_task())
    assert task
    parts = [
        StoredPart("result", url="https://cdn.example/r.png"),
        StoredPart("tops", path="/data/1/inline-1"),
    ]
    saved = await store.save_vendor_parts(task.id, parts)
    assert saved.state is TaskState.DOWNLOADING
    assert saved.vendor_parts == tuple(parts)
    failed = await store.finish(task.id, TaskState.FAILED, error_code="X", error_message="why")
    assert failed.notified_at is None
    assert [t.id for t in await store.unnotified_final_tasks()] == [task.id]
    await store.mark_notified(task.id)
    assert await store.unnotified_final_tasks() == []
    other = await store.create_task(a_task(2))
    assert other
    done = await store.finish(other.id, TaskState.DONE, notified=True)
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
        (task,) = await store.interrupted_tasks()
        assert (task.state, task.vendor_parts, task.notified_at) == (TaskState.DOWNLOADING, (), None)
    finally:
        await store.close()
