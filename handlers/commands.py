"""The `/cutout` slash command: acknowledge at once, then parse, record, enqueue and reply (ephemeral)."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.failures import SourceError
from bot.domain.grammar import (
    AutoCommand,
    CancelCommand,
    Command,
    DefaultCommand,
    HelpCommand,
    HistoryCommand,
    LimitCommand,
    ParseError,
    RunCommand,
    Spec,
    StatusCommand,
    UsageCommand,
    parse_command,
)
from bot.domain.tasks import URL_FILE_ID, ImageRecord, SourceFile, TaskSource, TaskState
from bot.domain.text import code, escape, from_slack, mrkdwn
from bot.domain.usage import WORKSPACE, LimitScope, Period, UsageLimit, period_start
from bot.net.urls import check_url
from bot.slack.blocks import usage_text
from handlers.inbox import dedupe_prefix, settles
from handlers.intake import ARMED_TTL_S, RECENT_IMAGE_S, busy_text, queue_images, queue_line_text
from handlers.links import thread_link
from handlers.permissions import may_change_settings, settings_by
from handlers.replies import (
    channel_text,
    help_text,
    limit_line,
    limits_text,
    status_text,
    task_line,
)
from handlers.services import Services, services_of

logger = logging.getLogger(__name__)

COMMAND = "/cutout"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def register(app: AsyncApp) -> None:
    app.command(COMMAND)(on_cutout)


@dataclass(frozen=True, slots=True)
class Invocation:
    team_id: str | None
    channel_id: str
    user_id: str
    dedupe_prefix: str | None = None  # for the tasks it queues, so a replay after a crash queues none twice


@settles
async def on_cutout(
    ack: AsyncAck,
    command: dict[str, Any],
    context: AsyncBoltContext,
    respond: AsyncRespond,
    client: AsyncWebClient,
) -> None:
    await ack()
    services = services_of(context)
    who = Invocation(
        command.get("team_id"), str(command["channel_id"]), str(command["user_id"]), dedupe_prefix(context)
    )
    try:
        parsed = parse_command(from_slack(str(command.get("text") or "")))
    except ParseError as error:
        logger.info("/cutout by %s in %s: invalid (%s)", who.user_id, who.channel_id, error.word or "length")
        await respond(text=f"{mrkdwn(error.message)}\nNothing was queued.", response_type="ephemeral")
        return
    reply = await _answer(parsed, services, who, client)
    await respond(text=reply, response_type="ephemeral")


async def _answer(parsed: Command, services: Services, who: Invocation, client: AsyncWebClient) -> str:
    """The ephemeral reply to a parsed command, after doing what it asks."""
    store = services.store
    match parsed:
        case HelpCommand():
            return help_text(services.engines, settings_by=settings_by(services.config.admins))
        case RunCommand(spec=spec, url=str(url)):
            return await _run_on_url(services, who, spec, url, client)
        case RunCommand(spec=spec):
            return await _run_on_recent_image(services, who, spec)
        case StatusCommand():
            tasks = await store.user_tasks(who.user_id, unfinished=True, limit=20)
            settings = await store.channel_settings(who.channel_id)
            return status_text(tasks, await store.queue_length(), settings, services.config.default_spec)
        case HistoryCommand():
            return await _history(services, who, client)
        case CancelCommand(task_id=task_id):
            return await _cancel(services, who, task_id)
        case DefaultCommand(spec=None) | AutoCommand(on=None):
            return channel_text(await store.channel_settings(who.channel_id), services.config.default_spec)
        case LimitCommand(scope=None):
            return limits_text(await store.limits())
        case UsageCommand():
            report = await store.usage_report(period_start(Period.MONTH, time.time()))
            return usage_text(report, services.config.prices)
    permission = await may_change_settings(services.config.admins, client, who.user_id)
    if not permission.allowed:
        logger.info("/cutout by %s in %s: a setting, refused (not an admin)", who.user_id, who.channel_id)
        return permission.refusal
    match parsed:
        case LimitCommand(scope=scope, off=True) if scope is not None:
            target = _limit_target(scope, who, parsed.user_id)
            removed = await store.remove_limit(scope, target)
            return "The limit was removed." if removed else "There was no such limit."
        case LimitCommand(scope=scope, max_images=int(count), period=period) if scope and period:
            limit = UsageLimit(scope, _limit_target(scope, who, parsed.user_id), period, count)
            await store.set_limit(limit, set_by=who.user_id)
            return f"Set: {limit_line(limit)}. Images past it are not sent to a paid vendor; `local` still works."
        case DefaultCommand(spec=Spec() as default):
            await store.set_channel_default(who.channel_id, default, user_id=who.user_id)
            return f"Images dropped in this channel without a spec now run `{default.words()}`."
        case AutoCommand(on=on) if on is not None:
            await store.set_channel_auto(who.channel_id, on, user_id=who.user_id)
            if on:
                return (
                    "Auto-processing is on: images dropped here without a spec run with the channel default."
                )
            return "Auto-processing is off: images dropped here run only when a spec is typed or armed."
    raise AssertionError(f"unhandled command {parsed!r}")


def _limit_target(scope: LimitScope, who: Invocation, user_id: str | None) -> str:
    if scope is LimitScope.CHANNEL:
        return who.channel_id
    if scope is LimitScope.USER and user_id:
        return user_id
    return WORKSPACE


async def _run_on_recent_image(services: Services, who: Invocation, spec: Spec) -> str:
    """Rules 2 and 3: run on the user's image of the last 10 minutes here, else arm the spec."""
    store = services.store
    images = await store.latest_image_message(who.channel_id, who.user_id, within_s=RECENT_IMAGE_S)
    if not images:
        await store.arm_spec(who.channel_id, who.user_id, spec, ttl_s=ARMED_TTL_S)
        return (
            f"Armed `{spec.words()}`: your next image in this channel within 10 minutes runs with it. "
            "(Or drop the image with the spec typed as its message.)"
        )
    if (busy := await busy_text(services, len(images))) is not None:
        return busy
    tasks = await queue_images(
        services,
        images,
        spec,
        source=TaskSource.RERUN,
        team_id=who.team_id,
        requested_by=who.user_id,
        dedupe_prefix=who.dedupe_prefix,
    )
    names = ", ".join(code(image.file.name) for image in images)
    numbers = ", ".join(f"#{t.id}" for t in tasks)
    line = await queue_line_text(services, tasks) or ""
    return f"Running `{spec.words()}` on {names} (task {numbers}); the results will be in its thread. {line}".strip()


async def _history(services: Services, who: Invocation, client: AsyncWebClient) -> str:
    tasks = await services.store.user_tasks(who.user_id, limit=10)
    if not tasks:
        return "You have no tasks yet. Drop an image, or type `/cutout help`."
    lines = ["*Your last tasks*"]
    for task in tasks:
        link = await thread_link(client, task.channel_id, task.thread_ts)
        lines.append(f"• {task_line(task)}" + (f" — <{link}|thread>" if link else ""))
    return "\n".join(lines)


async def _cancel(services: Services, who: Invocation, task_id: int | None) -> str:
    """Queued tasks stop at once, running ones at their next step; a result being posted is not stopped."""
    store = services.store
    cancelled, flagged = await store.request_cancel(who.user_id, task_id)
    said = []
    if cancelled:
        said.append("Cancelled " + ", ".join(f"#{t.id}" for t in cancelled) + ".")
    if flagged:
        numbers = ", ".join(f"#{t.id}" for t in flagged)
        said.append(f"{numbers} had already started: it stops at its next step.")
    if said:
        return " ".join(said)
    if task_id is None:
        return "You have no unfinished tasks to cancel."
    asked = await store.get_task(task_id)
    if asked is None or asked.user_id != who.user_id:
        return f"You have no task #{task_id}."
    if asked.state is TaskState.POSTING:
        return f"Task #{task_id} is finished and its result is being posted; it is not stopped."
    return f"Task #{task_id} is already {asked.state}; there is nothing to cancel."


async def _run_on_url(
    services: Services, who: Invocation, spec: Spec, url: str, client: AsyncWebClient
) -> str:
    """Rule 5: post a short parent message, then queue the URL's image with replies in its thread."""
    try:
        await check_url(url, allow_private=services.config.allow_private_urls)
    except SourceError as error:
        return f"{mrkdwn(error.message)} Nothing was queued."
    if (busy := await busy_text(services, 1)) is not None:
        return busy
    name = url_file_name(url)
    try:
        posted = await client.chat_postMessage(
            channel=who.channel_id,
            text=f"<@{who.user_id}> asked for `{spec.words()}` on <{escape(url)}|{escape(name)}>",
            unfurl_links=False,
            unfurl_media=False,
        )
    except SlackApiError as error:
        slack_error = error.response.get("error") if error.response is not None else "unknown"
        return f"I could not post in this channel ({slack_error}). `/invite` me here and try again."
    ts = str(posted["ts"])
    image = ImageRecord(who.channel_id, ts, ts, who.user_id, SourceFile(URL_FILE_ID, name, "", url))
    await services.store.record_image(image)
    tasks = await queue_images(
        services,
        [image],
        spec,
        source=TaskSource.URL,
        team_id=who.team_id,
        requested_by=who.user_id,
        dedupe_prefix=who.dedupe_prefix,
    )
    numbers = ", ".join(f"#{t.id}" for t in tasks)
    return f"Running `{spec.words()}` on {code(name)} (task {numbers}); the results will be in the thread I just started."


def url_file_name(url: str) -> str:
    """A file name for an image URL: the last part of its path, else `image`. Never raises (a URL
    `urlsplit` cannot read is named `image`); control characters decoded from `%00`…`%1F` are dropped."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return "image"
    last = _CONTROL.sub("", unquote(path.rsplit("/", 1)[-1]))
    return last or "image"
