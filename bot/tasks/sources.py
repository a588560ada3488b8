"""Where a task's image comes from: a Slack file (fetched with the bot token) or a web URL (fetched only
when public, see bot.net.urls, and within the download deadline)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from bot.domain.failures import SourceError
from bot.domain.tasks import SourceFile, Task
from bot.engines.base import CutoutEngine
from bot.engines.registry import engine_spec
from bot.net.downloads import DEFAULT_DEADLINE_S, DEFAULT_MAX_BYTES, DownloadError
from bot.net.urls import fetch_url
from bot.tasks.pipeline import Job

FetchFile = Callable[[SourceFile, Path], Awaitable[None]]  # a chat file into a path; raises SourceError


class ImageSources:
    """`fetch_chat_file` fetches a file people shared in Slack (the bot gives SlackFiles.download_file;
    the command-line tool, which has no chat, gives None)."""

    def __init__(
        self,
        fetch_chat_file: FetchFile | None,
        http: httpx.AsyncClient,
        *,
        allow_private_urls: bool = False,
        max_bytes: int = DEFAULT_MAX_BYTES,
        download_deadline_s: float = DEFAULT_DEADLINE_S,
    ) -> None:
        self._fetch_chat_file = fetch_chat_file
        self._http = http
        self._allow_private = allow_private_urls
        self._max_bytes = max_bytes
        self._deadline_s = download_deadline_s

    async def job_for(self, task: Task, engine: CutoutEngine, workdir: Path) -> Job:
        """The job for a task: the image downloaded into `workdir` unless the engine fetches the URL itself
        and nothing needs the original (per-class cut-outs and listing images do)."""
        if task.file.is_local:
            return Job(task.spec, task.file.name, source=Path(task.file.url))
        source = workdir / "source"
        if not task.file.is_url:
            if not source.is_file():
                if self._fetch_chat_file is None:
                    raise SourceError(
                        code="NO_CHAT",
                        message=f"{task.file.name} is a Slack file, and there is no Slack here.",
                    )
                await self._fetch_chat_file(task.file, source)
            return Job(task.spec, task.file.name, source=source)
        composed = (
            engine_spec(engine.name, task.spec) is not task.spec
        )  # another mode's answer, composed here
        needs_original = (
            task.spec.cutouts or task.spec.layout is not None or composed or not engine.accepts_urls
        )
        if needs_original and not source.is_file():
            await self._fetch_url(task.file.url, source)
        return Job(task.spec, task.file.name, source=source if needs_original else None, url=task.file.url)

    async def _fetch_url(self, url: str, dest: Path) -> None:
        try:
            downloaded = await fetch_url(
                self._http,
                url,
                dest,
                allow_private=self._allow_private,
                max_bytes=self._max_bytes,
                deadline_s=self._deadline_s,
            )
        except DownloadError as error:
            raise _url_failure(error, self._max_bytes) from None
        if not downloaded.content_type.startswith("image/"):
            dest.unlink(missing_ok=True)
            said = downloaded.content_type or "no content type"
            raise SourceError(
                code="URL_NOT_AN_IMAGE",
                message=f"That URL answered with {said}, not an image. Link to the image file itself.",
            )

    async def aclose(self) -> None:
        await self._http.aclose()


def _url_failure(error: DownloadError, limit: int) -> SourceError:
    if error.reason == DownloadError.TOO_LARGE:
        return SourceError(
            code="URL_TOO_LARGE", message=f"The image at that URL is over {limit / 1e6:.0f} MB."
        )
    if error.reason == DownloadError.DEADLINE:
        return SourceError(
            code="URL_TOO_SLOW",
            message=f"The image at that URL took longer than {error.deadline_s:g} s to download; "
            "link to a smaller image or one on a faster server.",
        )
    if error.reason == DownloadError.HTTP_STATUS:
        return SourceError(code=f"URL_HTTP_{error.status}", message=f"That URL answered HTTP {error.status}.")
    return SourceError(code="URL_UNREACHABLE", message=f"That URL could not be fetched ({error.reason}).")
