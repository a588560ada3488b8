"""Work survives a restart, and a redelivered event is done once."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from bot.config import Config
from bot.domain.grammar import parse_spec
from bot.domain.tasks import NewTask, ResultFile, SourceFile, StoredPart, TaskSource, TaskState
from bot.server import Bot
from bot.tasks.progress import Pacing
from fakes.images import jpeg_bytes, png_bytes
from fakes.net import wait_for
from storage import Store
from tests.e2e.harness import Fakes, Harness


def task_for(event: dict, spec: str) -> NewTask:
    """The task row the bot would have written for the first image of a `file_share` event."""
    file = event["files"][0]
    return NewTask(
        team_id="T0TEST",
        channel_id=event["channel"],
        user_id=event["user"],
        message_ts=event["ts"],
        thread_ts=event["ts"],
        file=SourceFile(
            file["id"], file["name"], file["mimetype"], file["url_private_download"], file["size"]
        ),
        spec=parse_spec(spec),
        source=TaskSource.UPLOAD,
    )


async def test_the_same_event_delivered_twice_makes_one_task(harness: Harness) -> None:
    slack = harness.slack
    event = slack.image_message([slack.host_file("twice.jpg", jpeg_bytes())], text="apparel")
    assert await slack.send_event(harness.bot_url, event, event_id="Ev0SAME") == 200
    assert await slack.send_event(harness.bot_url, event, event_id="Ev0SAME") == 200
    await wait_for(lambda: slack.file_messages, what="the result")
    await harness.bot.runner.run_until_idle()  # type: ignore[union-attr]
    assert len(await harness.store.tasks_for_message(event["channel"], event["ts"])) == 1
    assert len(harness.ailab.requests) == 1
    assert len(slack.file_messages) == 1


async def test_unfinished_tasks_resume_at_start_up(tmp_path: Path) -> None:
    fakes = await Fakes.start()
    slack, ailab = fakes.slack, fakes.ailab
    config = Config.from_env(fakes.environment(tmp_path), env_file=None)
    posting_event = slack.image_message([slack.host_file("done.jpg", jpeg_bytes())])
    downloading_event = slack.image_message([slack.host_file("fetched.jpg", jpeg_bytes())])
    running_event = slack.image_message([slack.host_file("half.jpg", jpeg_bytes())])
    # What the vendor had answered for the task that was downloading when the process died.
    async with httpx.AsyncClient(base_url=ailab.url) as http:
        answer = await http.post(
            "/api/cutout/general/apparel-background-removal",
            headers={"ailabapi-api-key": ailab.api_key},
            files={"image": ("fetched.jpg", jpeg_bytes(), "image/jpeg")},
        )
    result_url = answer.json()["data"]["elements"][0]["image_url"]

    store = await Store.open(config.db_path)
    try:
        claimed = []
        for event in (posting_event, downloading_event, running_event):
            assert await store.create_task(task_for(event, "apparel")) is not None
            claimed.append(await store.claim_next_task())
        assert None not in claimed and [task.id for task in claimed] == [1, 2, 3]  # type: ignore[union-attr]
        # Task 1 had its result on disk and was about to post when the process died.
        result = config.data_dir / "task-1" / "done-apparel-transparent.png"
        result.parent.mkdir(parents=True)
        result.write_bytes(png_bytes(50, 50))
        await store.save_results(
            claimed[0],  # type: ignore[arg-type]
            [ResultFile(str(result), result.name, "apparel")],
            summary="`apparel` · task #1",
        )
        # Task 2 had the vendor's answer stored; task 3 was still running.
        await store.save_vendor_parts(claimed[1], [StoredPart("result", url=result_url)])  # type: ignore[arg-type]
    finally:
        await store.close()

    bot = Bot(config)
    try:
        await bot.start()
        await wait_for(lambda: len(slack.file_messages) == 3, what="three results")
        await bot.runner.run_until_idle()  # type: ignore[union-attr]
        by_thread = {m.thread_ts: m for m in slack.file_messages}
        resumed = by_thread[posting_event["ts"]]
        assert [f.filename for f in resumed.files] == ["done-apparel-transparent.png"]
        assert "`apparel` · task #1" in resumed.initial_comment
        assert [f.filename for f in by_thread[downloading_event["ts"]].files] == [
            "fetched-apparel-transparent.png"
        ]
        assert [f.filename for f in by_thread[running_event["ts"]].files] == ["half-apparel-transparent.png"]
        assert len(ailab.requests) == 2  # the test's own call for task 2, and task 3's: none for 1 or 2
        assert bot.store is not None
        for n in (1, 2, 3):
            task = await bot.store.get_task(n)
            assert task is not None
            assert (task.state, task.notified_at is not None) == (TaskState.DONE, True)
        assert not result.exists()  # the posted result's work folder was cleaned up
    finally:
        await bot.stop(grace_s=2)
        await fakes.stop()


async def test_a_result_already_in_the_thread_is_not_posted_again(tmp_path: Path) -> None:
    fakes = await Fakes.start()
    slack = fakes.slack
    config = Config.from_env(fakes.environment(tmp_path), env_file=None)
    event = slack.image_message([slack.host_file("twice.jpg", jpeg_bytes())])
    store = await Store.open(config.db_path)
    try:
        assert await store.create_task(task_for(event, "apparel")) is not None
        claimed = await store.claim_next_task()
        assert claimed is not None and claimed.id == 1
        result = config.data_dir / "task-1" / "twice-apparel-transparent.png"
        result.parent.mkdir(parents=True)
        result.write_bytes(png_bytes(50, 50))
        await store.save_results(
            claimed, [ResultFile(str(result), result.name, "apparel")], summary="`apparel` · task #1"
        )
    finally:
        await store.close()
    # The previous process posted, and died before it could record that it had.
    async with httpx.AsyncClient(
        base_url=slack.api_url, headers={"Authorization": f"Bearer {slack.bot_token}"}
    ) as http:
        data = png_bytes(50, 50)
        reply = (
            await http.post("files.getUploadURLExternal", data={"filename": result.name, "length": len(data)})
        ).json()
        await http.post(reply["upload_url"], content=data)
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "`apparel` · task #1"}}]
        await http.post(
            "files.completeUploadExternal",
            data={
                "files": json.dumps([{"id": reply["file_id"]}]),
                "channel_id": event["channel"],
                "thread_ts": event["ts"],
                "blocks": json.dumps(blocks),
            },
        )
    assert len(slack.file_messages) == 1
    bot = Bot(config, pacing=Pacing(recheck_thread_after_s=0.05))
    try:
        await bot.start()
        store = bot.store
        assert store is not None
        await wait_for(lambda: _state(store, 1), what="the task done")
        assert len(slack.file_messages) == 1  # not posted again
        assert len(slack.calls_to("conversations.replies")) >= 1
    finally:
        await bot.stop(grace_s=2)
        await fakes.stop()


async def _state(store: Store, task_id: int) -> bool:
    task = await store.get_task(task_id)
    return task is not None and task.state is TaskState.DONE


async def test_a_picwish_task_with_a_task_id_is_polled_after_restart_not_created_again(
    tmp_path: Path,
) -> None:
    fakes = await Fakes.start()
    slack, picwish = fakes.slack, fakes.picwish
    config = Config.from_env(fakes.environment(tmp_path), env_file=None)
    event = slack.image_message([slack.host_file("coat.jpg", jpeg_bytes(480, 640))])
    # The previous process created the PicWish task, stored its id, and died while polling.
    async with httpx.AsyncClient(base_url=picwish.url) as http:
        created = await http.post(
            "/api/tasks/visual/clothing-segmentation",
            headers={"X-API-KEY": picwish.api_key},
            files={"image_file": ("coat.jpg", jpeg_bytes(480, 640), "image/jpeg")},
            data={"sync": "0"},
        )
        vendor_task_id = created.json()["data"]["task_id"]
    store = await Store.open(config.db_path)
    try:
        task = await store.create_task(task_for(event, "segment"))
        assert task is not None
        claimed = await store.claim_next_task()
        assert claimed is not None and claimed.id == task.id
        claimed = await store.set_state(claimed, TaskState.RUNNING, vendor="PicWish")
        await store.set_vendor_task(claimed, vendor_task_id)
    finally:
        await store.close()

    bot = Bot(config)
    try:
        await bot.start()
        (posted,) = await wait_for(lambda: slack.file_messages, what="the masks")
        assert posted.thread_ts == event["ts"]
        assert "coat-mask-clothes.png" in [f.filename for f in posted.files]
        assert len(picwish.created) == 1  # only the one the previous process made
        assert set(picwish.polls) == {vendor_task_id}
        await bot.runner.run_until_idle()  # type: ignore[union-attr]
        assert (await bot.store.get_task(task.id)).state is TaskState.DONE  # type: ignore[union-attr]
    finally:
        await bot.stop(grace_s=2)
        await fakes.stop()
