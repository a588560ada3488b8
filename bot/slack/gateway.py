"""What the runner does in Slack: fetch the image, show progress, post results and failures.

Slack's private file URLs answer an unauthorised or under-scoped token with a redirect to the
workspace login page (or, when followed, 200 text/html) instead of 401: redirects are not followed and
HTML is treated as "the bot may not read files" (slack-notes §1.2).

The bot token goes only to Slack's file origin (`https://files.slack.com`, or the scheme, host and port of
`SLACK_API_URL` when that is overridden). A file whose URL points anywhere else — a remote file kept in
Google Drive or Dropbox, or a crafted payload — is never fetched: the user is asked to upload the image.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import httpx
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.failures import SourceError, TaskFailure
from bot.domain.reports import ProgressReport
from bot.domain.tasks import ResultFile, SourceFile, Task
from bot.domain.text import code
from bot.net.downloads import DEFAULT_MAX_BYTES, DownloadError, download_to_file
from bot.slack.blocks import failure_blocks, failure_text, progress_text, result_blocks
from bot.tasks.delivery import Outcome

logger = logging.getLogger(__name__)
T = TypeVar("T")

REMEMBERED_MESSAGES = 10_000  # reactions remembered per message, newest kept
TRANSFER_ATTEMPTS = 3  # a file to or from Slack is tried this often…
TRANSFER_BACKOFF_S = 1.0  # …1 s, then 2 s apart
_UPLOAD_CHUNK_BYTES = 256 * 1024
SLACK_FILES_ORIGIN = ("https", "files.slack.com", 443)
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
# Where remote files live, by Slack's `external_type`, to tell the user in plain words.
_REMOTE_SERVICES = {
    "gdrive": "Google Drive",
    "dropbox": "Dropbox",
    "box": "Box",
    "onedrive": "OneDrive",
    "sharepoint": "SharePoint",
}


def files_origin(api_url: str) -> tuple[str, str, int]:
    """The only origin the bot token is sent to for file downloads: Slack's file host, or the scheme, host
    and port of an overridden `SLACK_API_URL` (a test or an enterprise proxy)."""
    if api_url.rstrip("/") == DEFAULT_SLACK_API_URL.rstrip("/"):
        return SLACK_FILES_ORIGIN
    return _origin(api_url) or SLACK_FILES_ORIGIN


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host:
        return None
    return scheme, host, port or (443 if scheme == "https" else 80)


class Progress(StrEnum):
    """The reaction on an image message: its value is the emoji name."""

    WORKING = "hourglass_flowing_sand"
    DONE = "white_check_mark"
    FAILED = "x"


_REACTIONS = {Outcome.WORKING: Progress.WORKING, Outcome.DONE: Progress.DONE, Outcome.FAILED: Progress.FAILED}


class SlackPostError(TaskFailure):
    """Slack refused a post (not in the channel, uploads disabled…)."""


class SlackGateway:
    """Slack for the runner: the `Delivery` of the bot, plus fetching Slack-hosted images."""

    def __init__(
        self,
        client: AsyncWebClient,
        files_http: httpx.AsyncClient,
        *,
        files_origin: tuple[str, str, int] = SLACK_FILES_ORIGIN,
        max_file_bytes: int = DEFAULT_MAX_BYTES,
        download_deadline_s: float = 120.0,
    ) -> None:
        self._client = client
        self._http = files_http
        self._files_origin = files_origin
        self._max_file_bytes = max_file_bytes
        self._download_deadline_s = download_deadline_s
        self._bot_user_id: str | None = None
        self._shown: OrderedDict[tuple[str, str], Progress | None] = OrderedDict()  # reaction on each message

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- Delivery (bot.delivery): a task's outcome, in its thread -----------------------------------

    async def working(self, task: Task) -> None:
        await self.set_progress(task.channel_id, task.message_ts, Progress.WORKING)

    async def deliver(self, task: Task) -> None:
        await self.post_results(task.channel_id, task.thread_ts, list(task.result_files), result_blocks(task))

    async def tell_failure(self, task: Task, reason: str) -> None:
        await self.post_in_thread(
            task.channel_id, task.thread_ts, failure_text(task, reason), blocks=failure_blocks(task, reason)
        )

    async def already_said(self, task: Task, marker: str, *, with_files: bool = False) -> bool:
        return await self.bot_said_in_thread(task.channel_id, task.thread_ts, marker, with_files=with_files)

    async def progress(self, task: Task, report: ProgressReport, message_ts: str | None) -> str | None:
        text = progress_text(report)
        if message_ts:
            await self.update_message(task.channel_id, message_ts, text)
            return message_ts
        try:
            return await self.post_in_thread(task.channel_id, task.thread_ts, text)
        except TaskFailure:
            return None

    async def message_outcome(self, task: Task, outcome: Outcome) -> None:
        reaction = _REACTIONS.get(outcome)
        if reaction is None:
            await self.clear_progress(task.channel_id, task.message_ts)
        else:
            await self.set_progress(task.channel_id, task.message_ts, reaction)

    async def download_file(self, file: SourceFile, dest: Path) -> None:
        """Fetch a Slack-hosted file with the bot token. Raises SourceError with a message for the user."""
        if file.external or _origin(file.url) != self._files_origin:
            logger.warning("file %s is not stored in Slack; not fetched with the bot token", file.file_id)
            raise _not_in_slack(file)
        if file.size is not None and file.size > self._max_file_bytes:
            raise _too_large(file.name, self._max_file_bytes, file.size)
        headers = {"Authorization": f"Bearer {self._client.token}"}
        try:
            downloaded = await _with_retries(
                f"download of Slack file {file.file_id}",
                lambda: download_to_file(
                    self._http,
                    file.url,
                    dest,
                    headers=headers,
                    max_bytes=self._max_file_bytes,
                    deadline_s=self._download_deadline_s,
                ),
                worth_retrying=lambda error: (
                    isinstance(error, DownloadError)
                    and error.reason in (DownloadError.TIMEOUT, DownloadError.CONNECTION)
                ),
            )
        except DownloadError as error:
            raise _download_failure(file, error, self._max_file_bytes) from None
        if downloaded.content_type == "text/html" or _looks_like_html(dest):
            dest.unlink(missing_ok=True)
            raise _no_file_access()

    async def set_progress(self, channel_id: str, message_ts: str, progress: Progress) -> None:
        """Show exactly one progress reaction on the message. Reaction trouble never fails a task.

        The reaction last shown on a message is remembered, so the usual path is one call to add and one to
        swap; a message this process has not touched may carry reactions from before a restart, so they are
        cleared before a final state is shown."""
        key = (channel_id, message_ts)
        if key in self._shown:
            current = self._shown[key]
            if current is progress:
                return
            if current is not None:
                await self._reaction(
                    "reactions_remove", channel_id, message_ts, current, ignore="no_reaction"
                )
        elif progress is not Progress.WORKING:
            for other in Progress:
                if other is not progress:
                    await self._reaction(
                        "reactions_remove", channel_id, message_ts, other, ignore="no_reaction"
                    )
        await self._reaction("reactions_add", channel_id, message_ts, progress, ignore="already_reacted")
        self._remember(key, progress)

    async def clear_progress(self, channel_id: str, message_ts: str) -> None:
        key = (channel_id, message_ts)
        shown = [self._shown[key]] if key in self._shown else list(Progress)
        for progress in shown:
            if progress is not None:
                await self._reaction(
                    "reactions_remove", channel_id, message_ts, progress, ignore="no_reaction"
                )
        self._remember(key, None)

    def _remember(self, key: tuple[str, str], progress: Progress | None) -> None:
        self._shown[key] = progress
        self._shown.move_to_end(key)
        while len(self._shown) > REMEMBERED_MESSAGES:
            self._shown.popitem(last=False)

    async def post_results(
        self, channel_id: str, thread_ts: str, files: list[ResultFile], blocks: list[dict[str, Any]]
    ) -> None:
        """Upload every file into the thread as one message carrying `blocks`.

        The steps of slack-sdk's `files_upload_v2` (slack-notes §2.1) — `files.getUploadURLExternal` and a
        POST of the bytes for each file, then one `files.completeUploadExternal` — with each file streamed
        from disk: `files_upload_v2` reads every file whole into memory first."""
        try:
            uploaded = [await self._upload(file) for file in files]
            await self._client.files_completeUploadExternal(
                files=uploaded,
                channel_id=channel_id,
                thread_ts=thread_ts,
                blocks=json.dumps(blocks),  # sent in the query string: a JSON string, not a list
            )
        except SlackApiError as error:
            raise _post_failure(error) from None
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as error:
            raise SlackPostError(
                code="SLACK_UNREACHABLE",
                message=f"Slack could not be reached to post the result ({type(error).__name__}).",
            ) from None

    async def _upload(self, file: ResultFile) -> dict[str, str | None]:
        path = Path(file.path)
        size = path.stat().st_size
        reply = await self._client.files_getUploadURLExternal(filename=file.name, length=size)
        url = str(reply["upload_url"])
        try:
            await _with_retries(
                f"upload of {file.name} to Slack",
                lambda: self._send_file(url, path, size),
                worth_retrying=lambda error: isinstance(error, _NotTaken),
            )
        except _NotTaken as refused:
            raise SlackPostError(
                code="SLACK_UPLOAD_FAILED",
                message=f"Slack did not take the result file {code(file.name)} ({refused}). Try again in a minute.",
            ) from None
        return {"id": str(reply["file_id"]), "title": file.title}

    async def _send_file(self, url: str, path: Path, size: int) -> None:
        """POST the file's bytes to its upload URL (no token: the URL is the permission). Raises _NotTaken
        saying what went wrong."""
        try:
            response = await self._http.post(
                url, content=_file_chunks(path), headers={"Content-Length": str(size)}
            )
        except httpx.TransportError as error:
            raise _NotTaken(type(error).__name__) from None
        if response.status_code != 200:
            raise _NotTaken(f"HTTP {response.status_code}")

    async def bot_said_in_thread(
        self, channel_id: str, thread_ts: str, marker: str, *, with_files: bool = False
    ) -> bool:
        """Whether a message of this bot in the thread contains `marker` (e.g. "task #12") — and, when
        `with_files`, carries files (a result, not the failure message that told it could not be posted).

        Used only after a restart, to tell a post that happened from one that did not; when Slack
        cannot be asked, the answer is "no" (a duplicate beats a lost result)."""
        pattern = re.compile(re.escape(marker) + r"(?!\d)")
        try:
            if self._bot_user_id is None:
                self._bot_user_id = (await self._client.auth_test()).get("user_id")
            cursor = None
            for _ in range(10):
                page = await self._client.conversations_replies(
                    channel=channel_id, ts=thread_ts, limit=200, cursor=cursor
                )
                for message in page.get("messages") or []:
                    mine = message.get("user") == self._bot_user_id or bool(message.get("bot_id"))
                    said = str(message.get("text") or "") + json.dumps(message.get("blocks") or [])
                    if mine and pattern.search(said) and (message.get("files") or not with_files):
                        return True
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    return False
        except SlackApiError as error:
            logger.warning(
                "could not read thread %s/%s to check for earlier posts: %s",
                channel_id,
                thread_ts,
                _error_code(error),
            )
        return False

    async def post_in_thread(
        self, channel_id: str, thread_ts: str, text: str, *, blocks: list[dict[str, Any]] | None = None
    ) -> str:
        """Post a message in the thread (`text` is the notification fallback when there are blocks)."""
        try:
            response = await self._client.chat_postMessage(
                channel=channel_id, thread_ts=thread_ts, text=text, blocks=blocks
            )
        except SlackApiError as error:
            raise _post_failure(error) from None
        return str(response.get("ts") or "")

    async def update_message(self, channel_id: str, ts: str, text: str) -> None:
        """Rewrite one of the bot's messages; trouble here never fails a task."""
        try:
            await self._client.chat_update(channel=channel_id, ts=ts, text=text)
        except SlackApiError as error:
            logger.warning("could not update message %s/%s: %s", channel_id, ts, _error_code(error))

    async def _reaction(self, method: str, channel: str, ts: str, progress: Progress, *, ignore: str) -> None:
        try:
            await getattr(self._client, method)(channel=channel, timestamp=ts, name=progress.value)
        except SlackApiError as error:
            if (said := _error_code(error)) != ignore:
                logger.warning("could not change reaction %s on %s/%s: %s", progress.value, channel, ts, said)


class _NotTaken(Exception):
    """Slack did not take an upload POST; the text says why (`HTTP 500`, `ReadError`)."""


async def _with_retries(
    what: str, attempt: Callable[[], Awaitable[T]], *, worth_retrying: Callable[[Exception], bool]
) -> T:
    """The one retry loop for files to and from Slack: TRANSFER_ATTEMPTS tries, backing off between them,
    for the failures `worth_retrying` accepts; the last failure is raised."""
    for number in range(1, TRANSFER_ATTEMPTS + 1):
        try:
            return await attempt()
        except Exception as error:
            if number == TRANSFER_ATTEMPTS or not worth_retrying(error):
                raise
            logger.warning("%s failed (%s), attempt %d; trying again", what, error, number)
        await asyncio.sleep(TRANSFER_BACKOFF_S * number)
    raise AssertionError("unreachable")


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(_UPLOAD_CHUNK_BYTES):
            yield chunk


def _looks_like_html(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(512).lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def _no_file_access() -> SourceError:
    return SourceError(
        code="SLACK_FILE_ACCESS",
        message="Slack would not give the bot this file: it answered with its login page, which means the bot "
        "lacks the `files:read` scope. Whoever runs the bot should add `files:read` to the app "
        "(OAuth & Permissions) and reinstall it to the workspace.",
    )


def _not_in_slack(file: SourceFile) -> SourceError:
    service = _REMOTE_SERVICES.get(file.external or "")
    where = f"in {service}" if service else "outside Slack"
    return SourceError(
        code="FILE_NOT_IN_SLACK",
        message=f"{code(file.name)} lives {where}, not in Slack, so the bot cannot fetch it. "
        "Upload the image itself (download it, then drop the file here).",
    )


def _too_large(name: str, limit: int, size: int | None = None) -> SourceError:
    said = f" is {size / 1e6:.1f} MB;" if size else " is too large;"
    return SourceError(
        code="FILE_TOO_LARGE",
        message=f"{code(name)}{said} the bot takes files up to {limit / 1e6:.0f} MB. Try a smaller export.",
    )


def _download_failure(file: SourceFile, error: DownloadError, limit: int) -> SourceError:
    if error.reason == DownloadError.TOO_LARGE:
        return _too_large(file.name, limit)
    if error.reason == DownloadError.DEADLINE:
        return SourceError(
            code="SLACK_FILE_TOO_SLOW",
            message=f"The download of {code(file.name)} from Slack took longer than "
            f"{error.deadline_s or 0:g} s, so it was stopped. Try again in a minute.",
        )
    if error.reason == DownloadError.HTTP_STATUS and error.status is not None and 300 <= error.status < 400:
        return _no_file_access()
    if error.reason == DownloadError.HTTP_STATUS and error.status in (403, 404, 410):
        return SourceError(
            code=f"SLACK_FILE_{error.status}",
            message=f"Slack no longer has {code(file.name)} (it may have been deleted). Upload it again.",
        )
    return SourceError(
        code="SLACK_FILE_UNAVAILABLE",
        message=f"Slack did not hand over {code(file.name)} ({error.reason}"
        + (f" {error.status}" if error.status else "")
        + "). Try again in a minute.",
    )


def _error_code(error: SlackApiError) -> str | None:
    """The `error` Slack answered with, e.g. `not_in_channel`."""
    said = error.response.get("error") if error.response is not None else None
    return str(said) if said else None


def _post_failure(error: SlackApiError) -> SlackPostError:
    said = _error_code(error) or "unknown"
    hints = {
        "not_in_channel": "the bot is not in this channel: `/invite` it and try again",
        "channel_not_found": "the bot cannot see this channel: `/invite` it and try again",
        "file_uploads_disabled": "file uploads are disabled in this workspace",
        "file_uploads_except_images_disabled": "this workspace only allows image uploads",
    }
    return SlackPostError(code=f"SLACK_{said}", message=f"Slack refused the post: {hints.get(said, said)}.")
