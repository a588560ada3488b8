"""kill -9 at each step of a task, then a restart on the same database: every task finishes exactly once.

The bot runs as a real process (`python -m bot`) between the fakes, which live in the test process and
so outlast it. A fake holds the bot at the chosen step; the test kills the process there, releases the
hold, starts a new process and checks the outcome: one result (or one failure) in each thread, no task
left unfinished, and no vendor work repeated that was not lost with the process.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path

import pytest

from fakes.images import jpeg_bytes
from fakes.net import wait_for
from tests import fault_report
from tests.e2e.harness import BotProcess, Fakes


def task_rows(db: Path) -> list[tuple[int, str, str | None, float | None]]:
    """(id, state, error_code, notified_at) of every task, read beside the running bot (WAL allows it)."""
    if not db.exists():
        return []
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        try:
            return connection.execute(
                "SELECT id, state, error_code, notified_at FROM tasks ORDER BY id"
            ).fetchall()
        except sqlite3.OperationalError:
            return []


@pytest.fixture
async def fakes():
    running = await Fakes.start()
    yield running
    await running.stop()


def environment(fakes: Fakes, tmp_path: Path, **extra: str) -> dict[str, str]:
    return fakes.environment(tmp_path, CUTOUT_WORKERS="1", **extra)


async def finish_after_restart(
    fakes: Fakes,
    tmp_path: Path,
    *,
    threads: int,
    said: tuple[str, ...] = ("taken up again", "not yet told"),
    **extra: str,
) -> list[tuple]:
    """Start a fresh process, wait until every thread has its one answer and every task is final; the new
    process's log says one of `said` (what it took up from the one before)."""
    bot = await BotProcess(environment(fakes, tmp_path, **extra), tmp_path).start()
    db = tmp_path / "state" / "cutout.db"
    try:
        await wait_for(
            lambda: len(fakes.slack.file_messages) + len(fakes.slack.messages) >= threads,
            what="answers",
            timeout=30,
        )
        rows = await wait_for(
            lambda: (
                (r := task_rows(db))
                and all(state in ("done", "failed") and told for _, state, _, told in r)
                and r
            ),
            what="every task final and told",
            timeout=30,
        )
        await asyncio.sleep(0.3)  # room for a duplicate to show itself
        assert await bot.terminate() == 0
    finally:
        if bot.process is not None and bot.process.returncode is None:
            await bot.kill()
    print("".join(bot.log))
    assert any(words in "".join(bot.log) for words in said)
    return rows


def one_answer_per_thread(fakes: Fakes, threads: set[str]) -> None:
    answers = [m.thread_ts for m in fakes.slack.file_messages] + [m.thread_ts for m in fakes.slack.messages]
    assert sorted(answers) == sorted(threads), answers


async def test_kill_while_a_task_waits_in_the_queue(fakes: Fakes, tmp_path: Path) -> None:
    slack, ailab = fakes.slack, fakes.ailab
    ailab.gate = asyncio.Event()
    bot = await BotProcess(environment(fakes, tmp_path), tmp_path).start()
    first = slack.image_message([slack.host_file("a.jpg", jpeg_bytes())], text="apparel")
    second = slack.image_message([slack.host_file("b.jpg", jpeg_bytes())], text="apparel")
    await slack.send_event(bot.url, first)
    await wait_for(lambda: ailab.waiting, what="the first task at the vendor")
    await slack.send_event(bot.url, second)
    await wait_for(
        lambda: [r for r in task_rows(tmp_path / "state" / "cutout.db") if r[1] == "queued"], what="queued"
    )
    await bot.kill()
    ailab.gate.set()
    rows = await finish_after_restart(fakes, tmp_path, threads=2)
    one_answer_per_thread(fakes, {first["ts"], second["ts"]})
    assert [state for _, state, _, _ in rows] == ["done", "done"]
    assert len(ailab.requests) == 3  # the first task's answer died with the process; the queued one ran once
    fault_report.survived("kill -9 while queued")
    fault_report.tasks_checked(2, lost=0, duplicate_vendor_calls=0)


async def test_kill_while_the_image_is_fetched_from_slack(fakes: Fakes, tmp_path: Path) -> None:
    slack, ailab = fakes.slack, fakes.ailab
    hold = slack.hold("download")
    bot = await BotProcess(environment(fakes, tmp_path), tmp_path).start()
    event = slack.image_message([slack.host_file("a.jpg", jpeg_bytes())], text="apparel")
    await slack.send_event(bot.url, event)
    await wait_for(lambda: hold.waiting, what="the download held")
    await bot.kill()
    hold.release()
    await finish_after_restart(fakes, tmp_path, threads=1)
    one_answer_per_thread(fakes, {event["ts"]})
    assert len(ailab.requests) == 1
    fault_report.survived("kill -9 while running (fetching the image)")
    fault_report.tasks_checked(1, lost=0, duplicate_vendor_calls=len(ailab.requests) - 1)


async def test_kill_while_the_vendor_works(fakes: Fakes, tmp_path: Path) -> None:
    slack, ailab = fakes.slack, fakes.ailab
    ailab.gate = asyncio.Event()
    bot = await BotProcess(environment(fakes, tmp_path), tmp_path).start()
    event = slack.image_message([slack.host_file("a.jpg", jpeg_bytes())], text="apparel")
    await slack.send_event(bot.url, event)
    await wait_for(lambda: ailab.waiting, what="the vendor call in flight")
    await bot.kill()
    ailab.gate.set()
    await finish_after_restart(fakes, tmp_path, threads=1)
    one_answer_per_thread(fakes, {event["ts"]})
    # A synchronous vendor's answer is lost with the process: asking again is the only way to a result.
    assert len(ailab.requests) == 2
    fault_report.survived("kill -9 while running (vendor call in flight)")
    fault_report.tasks_checked(1, lost=0, duplicate_vendor_calls=0)


async def test_kill_while_polling_picwish(fakes: Fakes, tmp_path: Path) -> None:
    slack, picwish = fakes.slack, fakes.picwish
    picwish.poll_hold.arm()
    bot = await BotProcess(environment(fakes, tmp_path), tmp_path).start()
    event = slack.image_message([slack.host_file("a.jpg", jpeg_bytes())], text="segment")
    await slack.send_event(bot.url, event)
    await wait_for(lambda: picwish.poll_hold.waiting, what="a poll held")
    rows = task_rows(tmp_path / "state" / "cutout.db")
    assert rows[0][1] == "polling"
    await bot.kill()
    picwish.poll_hold.release()
    await finish_after_restart(fakes, tmp_path, threads=1)
    one_answer_per_thread(fakes, {event["ts"]})
    assert len(picwish.created) == 1  # polled after the restart, never created again
    fault_report.survived("kill -9 while polling")
    fault_report.tasks_checked(1, lost=0, duplicate_vendor_calls=len(picwish.created) - 1)


async def test_kill_while_downloading_the_result(fakes: Fakes, tmp_path: Path) -> None:
    slack, ailab = fakes.slack, fakes.ailab
    ailab.result_hold.arm()
    bot = await BotProcess(environment(fakes, tmp_path), tmp_path).start()
    event = slack.image_message([slack.host_file("a.jpg", jpeg_bytes())], text="apparel tops")
    await slack.send_event(bot.url, event)
    await wait_for(lambda: ailab.result_hold.waiting, what="the result download held")
    assert task_rows(tmp_path / "state" / "cutout.db")[0][1] == "downloading"
    await bot.kill()
    ailab.result_hold.release()
    await finish_after_restart(fakes, tmp_path, threads=1)
    one_answer_per_thread(fakes, {event["ts"]})
    assert len(ailab.requests) == 1  # the stored answer was fetched; the vendor was not asked again
    assert [f.filename for f in slack.file_messages[0].files] == [
        "a-apparel-transparent.png",
        "a-transparent-tops.png",
    ]
    fault_report.survived("kill -9 while downloading")
    fault_report.results_checked(1, thrown_away=1 - len(slack.file_messages))
    fault_report.tasks_checked(1, lost=0, duplicate_vendor_calls=len(ailab.requests) - 1)


@pytest.mark.parametrize("slack_took_it", [True, False], ids=["after-slack-took-it", "before-slack-took-it"])
async def test_kill_while_posting(fakes: Fakes, tmp_path: Path, slack_took_it: bool) -> None:
    slack, ailab = fakes.slack, fakes.ailab
    hold = slack.hold("files.completeUploadExternal", after=slack_took_it)
    bot = await BotProcess(environment(fakes, tmp_path), tmp_path).start()
    event = slack.image_message([slack.host_file("a.jpg", jpeg_bytes())], text="apparel")
    await slack.send_event(bot.url, event)
    await wait_for(lambda: hold.waiting, what="the post held")
    assert task_rows(tmp_path / "state" / "cutout.db")[0][1] == "posting"
    await bot.kill()
    hold.release()
    await finish_after_restart(fakes, tmp_path, threads=1)
    one_answer_per_thread(fakes, {event["ts"]})  # posted exactly once either way
    assert len(ailab.requests) == 1
    fault_report.survived(f"kill -9 while posting ({'after' if slack_took_it else 'before'} Slack took it)")
    fault_report.results_checked(1, thrown_away=1 - len(slack.file_messages))
    fault_report.tasks_checked(1, lost=0, duplicate_vendor_calls=len(ailab.requests) - 1)


async def test_kill_before_a_failure_was_told(fakes: Fakes, tmp_path: Path) -> None:
    slack, ailab = fakes.slack, fakes.ailab
    ailab.fail_next(429, "ERROR_NOT_ENOUGH_CREDITS", "Insufficient credits.")
    hold = slack.hold("chat.postMessage")
    only_ailab = {"CUTOUT_ROUTES": "apparel=ailab"}  # with nowhere else to go, the failure is told
    bot = await BotProcess(environment(fakes, tmp_path, **only_ailab), tmp_path).start()
    event = slack.image_message([slack.host_file("a.jpg", jpeg_bytes())], text="apparel")
    await slack.send_event(bot.url, event)
    await wait_for(lambda: hold.waiting, what="the failure message held")
    (row,) = task_rows(tmp_path / "state" / "cutout.db")
    assert (row[1], row[2], row[3]) == ("failed", "ERROR_NOT_ENOUGH_CREDITS", None)  # recorded, not yet told
    await bot.kill()
    hold.release()
    rows = await finish_after_restart(fakes, tmp_path, threads=1, **only_ailab)
    (failure,) = slack.messages
    assert failure.thread_ts == event["ts"]
    assert "no credits left" in failure.text
    assert rows[0][1] == "failed"
    fault_report.survived("kill -9 before the failure was told")
    fault_report.tasks_checked(1, lost=0, duplicate_vendor_calls=len(ailab.requests) - 1)


async def test_sigterm_lets_the_running_step_finish(fakes: Fakes, tmp_path: Path) -> None:
    slack, ailab = fakes.slack, fakes.ailab
    ailab.gate = asyncio.Event()
    bot = await BotProcess(environment(fakes, tmp_path, CUTOUT_SHUTDOWN_GRACE_S="10"), tmp_path).start()
    event = slack.image_message([slack.host_file("a.jpg", jpeg_bytes())], text="apparel")
    await slack.send_event(bot.url, event)
    await wait_for(lambda: ailab.waiting, what="the vendor call in flight")
    assert bot.process is not None
    bot.process.send_signal(signal.SIGTERM)
    await asyncio.sleep(0.3)
    ailab.gate.set()
    assert await asyncio.wait_for(bot.process.wait(), 20) == 0
    one_answer_per_thread(fakes, {event["ts"]})  # finished within the grace period, before exiting
    assert task_rows(tmp_path / "state" / "cutout.db")[0][1] == "done"


async def test_sigterm_past_the_grace_leaves_the_task_to_resume(fakes: Fakes, tmp_path: Path) -> None:
    slack, ailab = fakes.slack, fakes.ailab
    ailab.gate = asyncio.Event()
    bot = await BotProcess(environment(fakes, tmp_path, CUTOUT_SHUTDOWN_GRACE_S="0.5"), tmp_path).start()
    event = slack.image_message([slack.host_file("a.jpg", jpeg_bytes())], text="apparel")
    await slack.send_event(bot.url, event)
    await wait_for(lambda: ailab.waiting, what="the vendor call in flight")
    assert await bot.terminate() == 0
    assert task_rows(tmp_path / "state" / "cutout.db")[0][1] == "running"  # left for the next start
    ailab.gate.set()
    await finish_after_restart(fakes, tmp_path, threads=1)
    one_answer_per_thread(fakes, {event["ts"]})
    fault_report.survived("SIGTERM past the grace period")
    fault_report.tasks_checked(1, lost=0, duplicate_vendor_calls=0)


# --- acknowledged, then killed before the work was recorded (durable intake) ------------------------


REPLAYED = ("acknowledged before the bot stopped; handling it now",)


async def test_kill_right_after_an_upload_is_acknowledged(fakes: Fakes, tmp_path: Path) -> None:
    slack = fakes.slack
    hold = slack.hold("files.info")  # a Slack Connect upload: the listener asks files.info before recording
    bot = await BotProcess(environment(fakes, tmp_path), tmp_path).start()
    event = slack.image_message([slack.connect_stub("a.jpg", jpeg_bytes())], text="apparel")
    assert await slack.send_event(bot.url, event) == 200  # Slack counts it delivered
    await wait_for(lambda: hold.waiting, what="the listener under way")
    assert task_rows(tmp_path / "state" / "cutout.db") == []  # no task yet
    await bot.kill()
    hold.release()
    rows = await finish_after_restart(fakes, tmp_path, threads=1, said=REPLAYED)
    one_answer_per_thread(fakes, {event["ts"]})
    assert [state for _, state, _, _ in rows] == ["done"]
    fault_report.survived("kill -9 right after an upload was acknowledged")
    fault_report.tasks_checked(1, lost=0, duplicate_vendor_calls=len(fakes.ailab.requests) - 1)


async def test_kill_right_after_a_file_shared_event_is_acknowledged(fakes: Fakes, tmp_path: Path) -> None:
    slack = fakes.slack
    hold = slack.hold("files.info")
    bot = await BotProcess(environment(fakes, tmp_path), tmp_path).start()
    event = slack.image_message([file := slack.host_file("a.jpg", jpeg_bytes())], text="apparel")
    assert (
        await slack.send_event(bot.url, slack.file_shared_event(event, file)) == 200
    )  # only file_shared came
    await wait_for(lambda: hold.waiting, what="the listener under way", timeout=15)
    await bot.kill()
    hold.release()
    rows = await finish_after_restart(fakes, tmp_path, threads=1, said=REPLAYED)
    one_answer_per_thread(fakes, {event["ts"]})
    assert [state for _, state, _, _ in rows] == ["done"]
    fault_report.survived("kill -9 right after a file_shared event was acknowledged")
    fault_report.tasks_checked(1, lost=0, duplicate_vendor_calls=len(fakes.ailab.requests) - 1)


async def test_kill_right_after_a_url_command_is_acknowledged(fakes: Fakes, tmp_path: Path) -> None:
    slack = fakes.slack
    hold = slack.hold("chat.postMessage")  # the command posts its parent message before queuing
    bot = await BotProcess(environment(fakes, tmp_path), tmp_path).start()
    url = fakes.web.add("chair.jpg", jpeg_bytes(), "image/jpeg")
    assert await slack.send_command(bot.url, f"apparel {url}") == 200
    await wait_for(lambda: hold.waiting, what="the listener under way")
    await bot.kill()
    hold.release()  # the dead process's parent message still lands: a thread with no result
    rows = await finish_after_restart(fakes, tmp_path, threads=1, said=REPLAYED)
    await wait_for(lambda: slack.file_messages, what="the result")
    assert [state for _, state, _, _ in rows] == ["done"] and len(slack.file_messages) == 1
    parents = [m for m in slack.messages if m.thread_ts is None]
    assert slack.file_messages[0].thread_ts in {m.ts for m in parents}
    fault_report.survived("kill -9 right after a command was acknowledged")
    fault_report.tasks_checked(1, lost=0, duplicate_vendor_calls=len(fakes.ailab.requests) - 1)


async def test_a_task_that_keeps_stopping_the_bot_is_failed_after_max_attempts(
    fakes: Fakes, tmp_path: Path
) -> None:
    slack, ailab = fakes.slack, fakes.ailab
    ailab.gate = asyncio.Event()
    env = environment(fakes, tmp_path, CUTOUT_MAX_ATTEMPTS="2")
    event = slack.image_message([slack.host_file("a.jpg", jpeg_bytes())], text="apparel")
    bot = await BotProcess(env, tmp_path).start()
    await slack.send_event(bot.url, event)
    for round_ in (1, 2):  # the task is at the vendor each time the process dies
        await wait_for(lambda round_=round_: len(ailab.requests) == round_, what=f"vendor call {round_}")
        await bot.kill()
        if round_ == 1:
            bot = await BotProcess(env, tmp_path).start()
    bot = await BotProcess(env, tmp_path).start()
    try:
        (failure,) = await wait_for(lambda: slack.messages, what="the failure", timeout=30)
        assert "stopped 2 times" in failure.text and failure.thread_ts == event["ts"]
        (row,) = await wait_for(
            lambda: [r for r in task_rows(tmp_path / "state" / "cutout.db") if r[3]], what="told"
        )
        assert row[1:3] == ("failed", "TOO_MANY_ATTEMPTS")
        assert len(ailab.requests) == 2  # not sent to the vendor a third time
        assert await bot.terminate() == 0
    finally:
        ailab.gate.set()
        if bot.process is not None and bot.process.returncode is None:
            await bot.kill()
    fault_report.survived("a task killed with the bot twice (poison)")
    fault_report.tasks_checked(1, lost=0, duplicate_vendor_calls=0)
