"""Files to and from Slack: images people shared, fetched with the bot token, and results uploaded
into a thread.

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
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import httpx
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.failures import SourceError
from bot.domain.tasks import ResultFile, SourceFile
from bot.domain.text import quote
from bot.imaging.decode import WEB_PAGE, sniff_file
from bot.net.downloads import DEFAULT_MAX_BYTES, DownloadError, download_to_file
from bot.slack.messages import SlackPostError, _post_failure

logger = logging.getLogger(__name__)


T = TypeVar("T")

TRANSFER_ATTEMPTS = 3  # a file to or from Slack is tried this often…
TRANSFER_BACKOFF_S = 1.0  # …1 s, then 2 s apart
_UPLOAD_CHUNK_BYTES = 256 * 1024
SLACK_FILES_ORIGIN = ("https", "files.slack.com", 443)
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
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


class SlackFiles:
    """Downloads with the bot token (to Slack's file origin only) and uploads streamed from disk."""

    def __init__(
        self,
        client: AsyncWebClient,
        http: httpx.AsyncClient,
        *,
        files_origin: tuple[str, str, int] = SLACK_FILES_ORIGIN,
        max_file_bytes: int = DEFAULT_MAX_BYTES,
        download_deadline_s: float = 120.0,
    ) -> None:
        self._client = client
        self._http = http
        self._files_origin = files_origin
        self._max_file_bytes = max_file_bytes
        self._download_deadline_s = download_deadline_s

    async def aclose(self) -> None:
        await self._http.aclose()

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
        if downloaded.content_type == "text/html" or sniff_file(dest) is WEB_PAGE:
            dest.unlink(missing_ok=True)
            raise _no_file_access()

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
                message=f"Slack did not take the result file {quote(file.name)} ({refused}). Try again in a minute.",
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


def _no_file_access() -> SourceError:
    return SourceError(
        code="SLACK_FILE_ACCESS",
        message="Slack would not give the bot this file: it answered with its login page, which means the bot "
        f"lacks the {quote('files:read')} scope. Whoever runs the bot should add {quote('files:read')} to the "
        "app (OAuth & Permissions) and reinstall it to the workspace.",
    )


def _not_in_slack(file: SourceFile) -> SourceError:
    service = _REMOTE_SERVICES.get(file.external or "")
    where = f"in {service}" if service else "outside Slack"
    return SourceError(
        code="FILE_NOT_IN_SLACK",
        message=f"{quote(file.name)} lives {where}, not in Slack, so the bot cannot fetch it. "
        "Upload the image itself (download it, then drop the file here).",
    )


def _too_large(name: str, limit: int, size: int | None = None) -> SourceError:
    said = f" is {size / 1e6:.1f} MB;" if size else " is too large;"
    return SourceError(
        code="FILE_TOO_LARGE",
        message=f"{quote(name)}{said} the bot takes files up to {limit / 1e6:.0f} MB. Try a smaller export.",
    )


def _download_failure(file: SourceFile, error: DownloadError, limit: int) -> SourceError:
    if error.reason == DownloadError.TOO_LARGE:
        return _too_large(file.name, limit)
    if error.reason == DownloadError.DEADLINE:
        return SourceError(
            code="SLACK_FILE_TOO_SLOW",
            message=f"The download of {quote(file.name)} from Slack took longer than "
            f"{error.deadline_s or 0:g} s, so it was stopped. Try again in a minute.",
        )
    if error.reason == DownloadError.HTTP_STATUS and error.status is not None and 300 <= error.status < 400:
        return _no_file_access()
    if error.reason == DownloadError.HTTP_STATUS and error.status in (403, 404, 410):
        return SourceError(
            code=f"SLACK_FILE_{error.status}",
            message=f"Slack no longer has {quote(file.name)} (it may have been deleted). Upload it again.",
        )
    return SourceError(
        code="SLACK_FILE_UNAVAILABLE",
        message=f"Slack did not hand over {quote(file.name)} ({error.reason}"
        + (f" {error.status}" if error.status else "")
        + "). Try again in a minute.",
    )
