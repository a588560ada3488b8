"""Durable intake: a Slack request that may queue work is in the database before Slack is acknowledged.

Bolt acknowledges an event before its listener runs (and a command as soon as the listener calls
`ack()`), so a process killed right after the acknowledgement would lose the upload Slack counts as
delivered. A global middleware, which runs before any acknowledgement, writes such a request into the
store's inbox; the listener settles it once its work is recorded (`@settles`). At start-up, requests left
unsettled are dispatched again through the same listeners (`replay`); the tasks they make carry dedupe
keys, so a request whose tasks were already recorded makes no second one.

Only requests that can queue work are kept (uploads, `file_shared`, thread replies that are a spec,
`/cutout` commands that change something, re-run buttons, the modal's submission): ordinary channel
talk never reaches the database. Slack's legacy verification `token` is dropped from what is stored.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.domain.grammar import (
    HelpCommand,
    HistoryCommand,
    ParseError,
    StatusCommand,
    parse_command,
    parse_thread_reply,
)
from bot.domain.text import from_slack
from bot.slack.blocks import MODAL_CALLBACK, RERUN_ACTION
from handlers.intake import thread_reply_text
from handlers.services import services_of
from storage import Store

logger = logging.getLogger(__name__)

INBOX_KEY = "cutout_inbox_id"  # the context key of the request's inbox entry
MAX_REPLAYS = 3  # a request whose replay keeps stopping the process is dropped after this many


def may_queue_work(body: dict[str, Any], bot_user_id: str | None = None) -> bool:
    """Whether a request could queue work, judged cheaply from its body (no I/O); `bot_user_id` tells a
    thread reply to the bot from one to somebody else."""
    if body.get("type") == "event_callback":
        event = body.get("event") or {}
        if event.get("type") == "file_shared":
            return True
        if event.get("type") != "message":
            return False
        if event.get("subtype") == "file_share":
            return True
        return _is_thread_spec(event, bot_user_id)
    if body.get("command"):
        try:
            parsed = parse_command(from_slack(str(body.get("text") or "")))
        except ParseError:
            return False
        return not isinstance(parsed, HelpCommand | StatusCommand | HistoryCommand)
    if body.get("type") == "block_actions":
        return any(str(a.get("action_id", "")).startswith(RERUN_ACTION) for a in body.get("actions") or [])
    if body.get("type") == "view_submission":
        return (body.get("view") or {}).get("callback_id") == MODAL_CALLBACK
    return False


def _is_thread_spec(event: dict[str, Any], bot_user_id: str | None) -> bool:
    text = thread_reply_text(event)
    if text is None:
        return False
    try:
        return parse_thread_reply(from_slack(text), bot_user_id=bot_user_id) is not None
    except ParseError:
        return False


def record_before_ack(store: Store) -> Callable[..., Awaitable[Any]]:
    """The global middleware that writes requests that may queue work into the inbox."""

    async def record(
        body: dict[str, Any], context: AsyncBoltContext, next: Callable[[], Awaitable[Any]]
    ) -> Any:
        # Bolt's authorization has run before any middleware of the app's: the bot's user id is known.
        if context.get(INBOX_KEY) is None and may_queue_work(body, context.bot_user_id):
            context[INBOX_KEY] = await store.inbox_add({k: v for k, v in body.items() if k != "token"})
        return await next()

    return record


def settles(listener: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """Wrap a listener whose request may be in the inbox: when it ends, its entry is settled (also when it
    fails: the failure is logged, and replaying a request that fails would only fail again)."""

    @functools.wraps(listener)
    async def run(**kwargs: Any) -> None:
        try:
            await listener(**kwargs)
        finally:
            await settle(kwargs["context"])

    return run


async def settle(context: AsyncBoltContext) -> None:
    entry_id = context.get(INBOX_KEY)
    if entry_id is not None:
        await services_of(context).store.inbox_settle(int(entry_id))
        context[INBOX_KEY] = None


def dedupe_prefix(context: AsyncBoltContext) -> str | None:
    """A dedupe prefix for the tasks a request makes, so its replay makes none twice."""
    entry_id = context.get(INBOX_KEY)
    return f"inbox{entry_id}" if entry_id is not None else None


async def replay(app: AsyncApp, store: Store, *, older_than_s: float) -> int:
    """Dispatch again the requests a stopped instance acknowledged but did not finish recording — those
    unsettled for at least `older_than_s` (0 at the start of the only instance; a lease in a fleet, where a
    younger entry may still be in the hands of a live instance); returns how many."""
    replayed = 0
    for entry in await store.inbox_to_replay(older_than_s):
        if entry.attempts > MAX_REPLAYS:
            logger.error(
                "inbox entry %d was replayed %d times without settling; dropped", entry.id, MAX_REPLAYS
            )
            await store.inbox_settle(entry.id)
            continue
        logger.info("inbox entry %d: acknowledged before the bot stopped; handling it now", entry.id)
        request = AsyncBoltRequest(body=entry.body, mode="socket_mode", context={INBOX_KEY: entry.id})
        response = await app.async_dispatch(request)
        if response.status != 200:
            logger.warning("inbox entry %d: nothing handled it (%d); dropped", entry.id, response.status)
            await store.inbox_settle(entry.id)
        replayed += 1
    return replayed
