"""Bounded resources: the queue has a bound and says where you stand; old things are forgotten."""

from __future__ import annotations

import asyncio
import platform
import threading
import time
from pathlib import Path

import pytest

from bot.domain.grammar import parse_spec
from bot.domain.tasks import NewTask, SourceFile, TaskSource, TaskState
from bot.imaging.threads import ImageWork, return_freed_images_to_the_system
from bot.tasks.housekeeping import Housekeeper
from fakes.images import jpeg_bytes
from fakes.net import wait_for
from storage import Store
from tests.e2e.harness import running_bot


async def test_a_full_queue_turns_images_away_with_a_message_and_says_the_position(tmp_path: Path) -> None:
    async with running_bot(tmp_path, CUTOUT_WORKERS="1", CUTOUT_MAX_QUEUE="2") as harness:
        slack, ailab = harness.slack, harness.ailab
        ailab.gate = asyncio.Event()
        await harness.drop_image([slack.host_file("1.jpg", jpeg_bytes())], text="apparel")
        await wait_for(lambda: ailab.waiting, what="the first task at the vendor")
        await harness.drop_image([slack.host_file("2.jpg", jpeg_bytes())], text="apparel")
        await wait_for(lambda: harness.store.queue_length(), what="the second task queued")
        third = await harness.drop_image([slack.host_file("3.jpg", jpeg_bytes())], text="apparel")
        (line,) = await wait_for(lambda: slack.ephemerals, what="the position note")
        assert line.text.startswith("Queued: number 2 in line.")
        fourth = await harness.drop_image([slack.host_file("4.jpg", jpeg_bytes())], text="apparel")
        busy = await wait_for(
            lambda: len(slack.ephemerals) == 2 and slack.ephemerals[1], what="the busy note"
        )
        assert busy.text.startswith("The bot is busy: 2 images are waiting")
        assert busy.user == fourth["user"]
        assert await harness.store.tasks_for_message(fourth["channel"], fourth["ts"]) == []
        ailab.gate.set()
        await wait_for(lambda: len(slack.file_messages) == 3, what="three results")
        assert len(await harness.store.tasks_for_message(third["channel"], third["ts"])) == 1


def a_task(n: int) -> NewTask:
    return NewTask(
        team_id="T",
        channel_id="C",
        user_id="U",
        message_ts=f"{n}.0",
        thread_ts=f"{n}.0",
        file=SourceFile(f"F{n}", "a.jpg", "image/jpeg", "https://files.example/a"),
        spec=parse_spec("apparel"),
        source=TaskSource.UPLOAD,
    )


async def test_housekeeping_forgets_old_finished_tasks_and_their_folders(tmp_path: Path) -> None:
    now = [1_000_000.0]
    store = await Store.open(tmp_path / "cutout.db", clock=lambda: now[0])
    data = tmp_path / "data"
    try:
        old = await store.create_task(a_task(0))
        recent = await store.create_task(a_task(1))
        running = await store.create_task(a_task(2))
        kept = await store.create_task(a_task(3))
        old_kept = await store.create_task(a_task(4))
        assert old and recent and running and kept and old_kept
        # the runner's claims: only a claim's holder writes a task
        claimed = {task.id: task for task in await store.claim_tasks(5)}
        assert len(claimed) == 5
        await store.finish(claimed[old.id], TaskState.DONE, notified=True)
        await store.finish(claimed[old_kept.id], TaskState.UNDELIVERED, error_code="SLACK_UPLOAD_FAILED")
        now[0] += 40 * 86400
        await store.finish(claimed[recent.id], TaskState.FAILED, error_code="X")
        await store.finish(claimed[kept.id], TaskState.UNDELIVERED, error_code="SLACK_UPLOAD_FAILED")
        for task in (old, recent, running, kept, old_kept):
            (data / f"task-{task.id}").mkdir(parents=True)
        (data / "task-999").mkdir()  # a folder whose task is long gone
        (data / "unrelated").mkdir()
        keeper = Housekeeper(store, data, retention_s=30 * 86400, clock=lambda: now[0])
        # old and old_kept (forgotten), recent (final), 999 (unknown); a recent undelivered result stays
        assert await keeper.sweep() == 4
        assert await store.get_task(old.id) is None and await store.get_task(old_kept.id) is None
        assert (await store.get_task(recent.id)) is not None
        assert sorted(p.name for p in data.iterdir()) == [
            f"task-{running.id}",
            f"task-{kept.id}",
            "unrelated",
        ]
    finally:
        await store.close()


async def test_a_vendors_concurrency_limit_holds_while_more_workers_run(tmp_path: Path) -> None:
    async with running_bot(tmp_path, CUTOUT_WORKERS="5", AILAB_CONCURRENCY="3") as harness:
        slack, ailab = harness.slack, harness.ailab
        ailab.gate = asyncio.Event()
        files = [slack.host_file(f"{n}.jpg", jpeg_bytes()) for n in range(5)]
        await harness.drop_image(files, text="apparel")
        await wait_for(lambda: ailab.waiting == 3, what="three calls at the vendor")
        await asyncio.sleep(0.3)
        assert ailab.waiting == 3  # the other two wait on our side, not at the vendor
        ailab.gate.set()
        await wait_for(lambda: len(slack.file_messages) == 5, what="five results")
        assert len(ailab.requests) == 5


@pytest.mark.parametrize("threads", [1, 2])
async def test_image_steps_run_no_more_at_once_than_the_image_threads(threads: int) -> None:
    work = ImageWork(threads)
    running = 0
    most = 0
    counting = threading.Lock()

    def step(n: int) -> int:
        nonlocal running, most
        with counting:
            running += 1
            most = max(most, running)
        time.sleep(0.02)  # a blocking step, as decoding is
        with counting:
            running -= 1
        return n * n

    try:
        assert await asyncio.gather(*(work.run(step, n) for n in range(6))) == [n * n for n in range(6)]
    finally:
        work.close()
    assert most <= threads


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the setting is glibc's")
def test_freed_image_memory_goes_back_to_the_system_on_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    assert return_freed_images_to_the_system()
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert not return_freed_images_to_the_system()  # the operator's own setting is left as it is
