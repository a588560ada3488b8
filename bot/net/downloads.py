"""Streamed downloads to disk with a size cap and a deadline — for Slack files, image URLs and vendor
results.

Every download has a deadline, first byte to last (`deadline_s`, CUTOUT_DOWNLOAD_TIMEOUT_S in the bot): the
client's timeouts bound each read, so without it a server that sends a byte every few seconds would hold a
worker for ever. Past the deadline the download stops and DownloadError says DEADLINE.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bot.net.client import PUBLIC_ONLY

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_DEADLINE_S = 120.0


@dataclass(frozen=True, slots=True)
class Downloaded:
    path: Path
    size: int
    content_type: str  # lower-case media type without parameters, "" when absent


class DownloadError(Exception):
    """A download that did not give us a file. `reason` is one of the class constants; a DEADLINE error
    carries the limit it ran past in `deadline_s`."""

    HTTP_STATUS = "http_status"
    TOO_LARGE = "too_large"
    TIMEOUT = "timeout"  # one read or the connect took longer than the client's timeout
    DEADLINE = "deadline"  # the whole download took longer than its deadline
    CONNECTION = "connection"

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        content_type: str = "",
        location: str | None = None,
        detail: str = "",
        deadline_s: float | None = None,
    ) -> None:
        super().__init__(f"{reason} {status or ''} {detail}".strip())
        self.reason = reason
        self.status = status
        self.content_type = content_type
        self.location = location
        self.detail = detail
        self.deadline_s = deadline_s


@asynccontextmanager
async def deadline(seconds: float | None) -> AsyncIterator[None]:
    """Stop the block after `seconds` (None: no limit) with DownloadError(DEADLINE)."""
    if seconds is None:
        yield
        return
    scope = asyncio.timeout(seconds)
    try:
        async with scope:
            yield
    except TimeoutError:
        if not scope.expired():
            raise
        raise DownloadError(
            DownloadError.DEADLINE, detail=f"over {seconds:g} s", deadline_s=seconds
        ) from None


async def download_to_file(
    client: httpx.AsyncClient,
    url: str,
    dest: Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    deadline_s: float | None = DEFAULT_DEADLINE_S,
    headers: dict[str, str] | None = None,
    follow_redirects: bool = False,
    public_only: bool = False,
) -> Downloaded:
    """GET `url` into `dest` (written whole or not at all) within `deadline_s`. Non-2xx, too large, too
    slow or network errors raise DownloadError. `public_only` connects only to public addresses
    (bot.net.client's guard; a refusal raises its AddressRefused)."""
    partial = dest.with_name(dest.name + ".part")
    extensions = {PUBLIC_ONLY: True} if public_only else None
    complete = False
    try:
        async with (
            deadline(deadline_s),
            client.stream(
                "GET", url, headers=headers, follow_redirects=follow_redirects, extensions=extensions
            ) as response,
        ):
            content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if not 200 <= response.status_code < 300:
                raise DownloadError(
                    DownloadError.HTTP_STATUS,
                    status=response.status_code,
                    content_type=content_type,
                    location=response.headers.get("location"),
                )
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise DownloadError(DownloadError.TOO_LARGE, detail=f"{int(declared)} bytes")
            size = 0
            with open(partial, "wb") as out:
                async for chunk in response.aiter_bytes(64 * 1024):
                    size += len(chunk)
                    if size > max_bytes:
                        raise DownloadError(DownloadError.TOO_LARGE, detail=f"over {max_bytes} bytes")
                    out.write(chunk)
        os.replace(partial, dest)
        complete = True
    except httpx.TimeoutException as error:
        raise DownloadError(DownloadError.TIMEOUT, detail=type(error).__name__) from None
    except httpx.TransportError as error:
        raise DownloadError(DownloadError.CONNECTION, detail=type(error).__name__) from None
    finally:
        if not complete:
            partial.unlink(missing_ok=True)
    return Downloaded(dest, size, content_type)
