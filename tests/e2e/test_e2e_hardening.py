"""End to end, the promises of the hardening issue: the token stays on Slack, nothing people chose is posted
as markup, Slack's escaping is undone on input, no paid result is dropped, poison tasks stop, and a request
acknowledged before a crash is handled after it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

from bot.config import Config
from bot.domain.tasks import TaskState
from bot.server import Bot
from fakes.images import jpeg_bytes
from fakes.net import wait_for
from fakes.slack import FakeSlack, blocks_text
from storage import Store
from tests import fault_report
from tests.e2e.harness import Fakes, Harness, running_bot
from tests.e2e.test_e2e_restart import task_for

T = TypeVar("T")
MARKUP = ("<!channel>", "<!here>", "<@U0BOSS>", "<https://x.example|click>")


def _said(harness: Harness, thread_ts: str) -> str:
    """Everything the bot wrote in a thread (text and blocks), as Slack would render it."""
    parts = []
    for message in harness.slack.in_thread("C0GENERAL", thread_ts):
        parts.append(getattr(message, "text", "") or getattr(message, "initial_comment", ""))
        parts.append(blocks_text(message.blocks or []))
    return "\n".join(parts)


# --- 1. the token goes only to Slack ----------------------------------------------------------------


async def test_a_file_kept_in_google_drive_is_never_fetched_and_the_user_is_told(harness: Harness) -> None:
    slack = harness.slack
    event = await harness.drop_image([slack.remote_file("lookbook.jpg", jpeg_bytes())], text="apparel")
    (failure,) = await wait_for(
        lambda: [m for m in slack.messages if m.thread_ts == event["ts"]], what="the explanation"
    )
    assert "lives in Google Drive" in failure.text and "Upload the image itself" in failure.text
    assert slack.remote_requests == []  # not fetched at all, so no token went there
    (task,) = await harness.store.tasks_for_message(event["channel"], event["ts"])
    assert (task.state, task.error_code) == (TaskState.FAILED, "FILE_NOT_IN_SLACK")
    assert harness.ailab.requests == []


async def test_a_payload_pointing_a_file_at_another_host_gets_no_token(harness: Harness) -> None:
    slack, web = harness.slack, harness.web
    crafted = slack.host_file("bait.jpg", jpeg_bytes())
    crafted["url_private_download"] = web.add("steal/bait.jpg", jpeg_bytes(), "image/jpeg")
    event = await harness.drop_image([crafted], text="apparel")
    (failure,) = await wait_for(
        lambda: [m for m in slack.messages if m.thread_ts == event["ts"]], what="the refusal"
    )
    assert "lives outside Slack" in failure.text
    assert "steal/bait.jpg" not in web.requests
    fault_report.bad_input()


async def test_a_slack_connect_stub_is_resolved_with_files_info(harness: Harness) -> None:
    slack = harness.slack
    event = await harness.drop_image([slack.connect_stub("partner.jpg", jpeg_bytes())], text="apparel")
    (posted,) = await wait_for(lambda: slack.file_messages, what="the result")
    assert posted.thread_ts == event["ts"]
    assert [f.filename for f in posted.files] == ["partner-apparel-transparent.png"]
    assert slack.calls_to("files.info")


# --- 2. nothing people chose is posted as markup ---------------------------------------------------


async def test_file_names_are_escaped_in_results_progress_and_failures(harness: Harness) -> None:
    slack = harness.slack
    good = await harness.drop_image(
        [slack.host_file("<!channel> sale <@U0BOSS>.jpg", jpeg_bytes())], text="apparel"
    )
    bad = await harness.drop_image(
        [slack.host_file("<!here> <https://x.example|click>.jpg", b"not an image at all")], text="apparel"
    )
    await wait_for(lambda: slack.file_messages, what="the result")
    await wait_for(lambda: [m for m in slack.messages if m.thread_ts == bad["ts"]], what="the failure")
    for thread in (good["ts"], bad["ts"]):
        said = _said(harness, thread)
        assert said.strip()
        for markup in MARKUP:
            assert markup not in said, (markup, said)
    assert "&lt;!channel&gt; sale &lt;@U0BOSS&gt;" in _said(harness, good["ts"])
    assert "`&lt;!here&gt; &lt;https://x.example|click&gt;.jpg`" in _said(harness, bad["ts"])
    # the database holds the reason as plain text: the name as typed, quoted, with no mrkdwn or escapes
    (failed,) = await harness.store.tasks_for_message(bad["channel"], bad["ts"])
    assert failed.error_message is not None
    assert "‘<!here> <https://x.example|click>.jpg’" in failed.error_message
    assert "`" not in failed.error_message and "&lt;" not in failed.error_message


async def test_a_url_file_name_and_a_bad_word_are_escaped_in_replies(harness: Harness) -> None:
    slack, web = harness.slack, harness.web
    url = web.add("%3C!channel%3E.jpg", jpeg_bytes(), "image/jpeg")
    await harness.command(f"product {url}")
    parent = await wait_for(lambda: [m for m in slack.messages if m.thread_ts is None], what="the parent")
    assert "<!channel>" not in parent[0].text and "&lt;!channel&gt;" in parent[0].text
    await harness.command("apparel <!here>")
    reply = await wait_for(
        lambda: [r for r in slack.responses if "Nothing was queued" in r["text"]], what="the refusal"
    )
    assert "<!here>" not in reply[0]["text"] and "&lt;!here&gt;" in reply[0]["text"]


# --- 3. Slack's escaping is undone on input ----------------------------------------------------------


async def test_a_url_with_a_query_string_is_fetched_as_typed(harness: Harness) -> None:
    slack, web = harness.slack, harness.web
    url = web.add("shop/chair.jpg", jpeg_bytes(), "image/jpeg")
    # Slack escapes & and wraps what it recognises as a link: <url|label>
    await harness.command(f"product <{url}?v=1&amp;w=800|{url[7:]}?v=1&amp;w=800>")
    await wait_for(lambda: slack.file_messages, what="the result")
    assert "v=1&w=800" in web.queries


async def test_an_upload_text_with_escaped_characters_parses(harness: Harness) -> None:
    slack = harness.slack
    await harness.drop_image([slack.host_file("a.jpg", jpeg_bytes())], text="&lt;@U0BOT&gt; apparel white")
    (posted,) = await wait_for(lambda: slack.file_messages, what="the result")
    assert [f.filename for f in posted.files] == ["a-apparel-white.jpg"]


# --- 5. no paid result is thrown away ------------------------------------------------------------------


async def test_a_cancel_while_the_result_is_posted_does_not_drop_it(harness: Harness) -> None:
    slack = harness.slack
    hold = slack.hold("files.getUploadURLExternal")
    event = await harness.drop_image([slack.host_file("a.jpg", jpeg_bytes())], text="apparel")
    await wait_for(lambda: hold.waiting, what="the post under way")
    (task,) = await harness.store.tasks_for_message(event["channel"], event["ts"])
    await harness.command(f"cancel {task.id}")
    reply = await wait_for(lambda: slack.responses, what="the cancel reply")
    assert "being posted; it is not stopped" in reply[-1]["text"]
    hold.release()
    (posted,) = await wait_for(lambda: slack.file_messages, what="the result")
    assert posted.thread_ts == event["ts"]
    await wait_for(lambda: _state_is(harness.store, task.id, TaskState.DONE), what="done")
    fault_report.results_checked(1, thrown_away=0)


async def _state_is(store: Store, task_id: int, state: TaskState) -> bool:
    task = await store.get_task(task_id)
    return task is not None and task.state is state


# --- 6. poison tasks stop --------------------------------------------------------------------------------


@asynccontextmanager
async def started_on(tmp_path: Path, earlier: Callable[[Store, FakeSlack], Awaitable[T]], **env: str):
    """Fakes, a database left by an earlier process (`earlier` writes it), and the bot started on it;
    yields (fakes, the started bot, what `earlier` returned)."""
    fakes = await Fakes.start()
    config = Config.from_env(fakes.environment(tmp_path, **env), env_file=None)
    store = await Store.open(config.db_path)
    try:
        left = await earlier(store, fakes.slack)
    finally:
        await store.close()
    bot = Bot(config)
    try:
        await bot.start()
        assert bot.store is not None
        yield fakes, bot, left
    finally:
        await bot.stop(grace_s=2)
        await fakes.stop()


async def test_a_task_interrupted_too_often_is_failed_not_run_again(tmp_path: Path) -> None:
    async def two_processes_died_with_it(store: Store, slack: FakeSlack) -> dict:
        event = slack.image_message([slack.host_file("crash.jpg", jpeg_bytes())])
        await store.create_task(task_for(event, "apparel"))
        claimed = await store.claim_next_task()
        assert claimed is not None
        await store.set_state(claimed, TaskState.QUEUED)  # the first start queued it again
        claimed = await store.claim_next_task()
        assert claimed is not None and claimed.attempts == 2
        return event

    async with started_on(tmp_path, two_processes_died_with_it, CUTOUT_MAX_ATTEMPTS="2") as (
        fakes,
        bot,
        event,
    ):
        slack = fakes.slack
        (failure,) = await wait_for(
            lambda: [m for m in slack.messages if m.thread_ts == event["ts"]], what="the failure"
        )
        assert "stopped 2 times while working on `crash.jpg`" in failure.text
        await wait_for(lambda: _state_is(bot.store, 1, TaskState.FAILED), what="failed")
        task = await bot.store.get_task(1)
        assert task is not None and task.error_code == "TOO_MANY_ATTEMPTS"
        assert fakes.ailab.requests == [] and slack.downloads == []  # not run, not billed
    fault_report.survived("a poison task stopped after CUTOUT_MAX_ATTEMPTS")


# --- 4. durable intake -------------------------------------------------------------------------------------


async def test_an_upload_acknowledged_before_a_stop_is_handled_at_the_next_start(tmp_path: Path) -> None:
    async def acknowledged_then_died(store: Store, slack: FakeSlack) -> dict:
        """What the middleware wrote before Slack got its 200; the process died before the listener ran."""
        event = slack.image_message([slack.host_file("late.jpg", jpeg_bytes())], text="apparel")
        body = slack.event_envelope(event)
        await store.inbox_add({k: v for k, v in body.items() if k != "token"})
        return event

    async with started_on(tmp_path, acknowledged_then_died) as (fakes, bot, event):
        (posted,) = await wait_for(lambda: fakes.slack.file_messages, what="the result")
        assert posted.thread_ts == event["ts"]
        await wait_for(lambda: _inbox_empty(bot.store), what="the inbox settled")


async def _inbox_empty(store: Store) -> bool:
    return await store.inbox_entries() == []


async def test_the_inbox_keeps_no_token_and_no_ordinary_talk(harness: Harness) -> None:
    slack, store = harness.slack, harness.store
    hold = slack.hold("files.info")
    stub = slack.connect_stub("p.jpg", jpeg_bytes())
    await harness.drop_image([stub], text="apparel")
    await wait_for(lambda: hold.waiting, what="the listener waiting on files.info")
    chat = {
        "type": "message",
        "channel": "C0GENERAL",
        "user": "U0ALICE",
        "text": "lunch?",
        "ts": slack.new_ts(),
    }
    assert await slack.send_event(harness.bot_url, chat) == 200
    to_a_colleague = {**chat, "text": "<@U0ANA> apparel white", "thread_ts": chat["ts"]}
    to_a_colleague["ts"] = slack.new_ts()
    assert await slack.send_event(harness.bot_url, to_a_colleague) == 200  # talk in a thread, not a spec
    (entry,) = await store.inbox_entries()  # the upload, recorded before its ack, not yet settled
    assert entry.body["event"]["files"][0]["id"] == stub["id"]
    assert "token" not in entry.body
    hold.release()
    await wait_for(lambda: slack.file_messages, what="the result")
    await wait_for(lambda: _inbox_empty(store), what="settled")


async def test_a_slack_file_that_trickles_fails_at_the_download_deadline(tmp_path: Path) -> None:
    async with running_bot(tmp_path, CUTOUT_DOWNLOAD_TIMEOUT_S="0.5") as harness:
        slack = harness.slack
        slow = slack.host_file("slow.jpg", jpeg_bytes(), trickle_s=0.05)
        event = await harness.drop_image([slow], text="apparel")
        (failure,) = await wait_for(
            lambda: [m for m in slack.messages if m.thread_ts == event["ts"]], what="the failure"
        )
        assert "took longer than 0.5 s" in failure.text
        (task,) = await harness.store.tasks_for_message(event["channel"], event["ts"])
        assert (task.state, task.error_code) == (TaskState.FAILED, "SLACK_FILE_TOO_SLOW")
    fault_report.survived("a Slack file that trickles")
