"""Streamed downloads to disk with a size cap — for Slack files, image URLs and vendor results."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import httpx

DEFAULT_MAX_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Downloaded:
    path: Path
    size: int
    content_type: str  # lower-case media type without parameters, "" when absent


class DownloadError(Exception):
    """A download that did not give us a file. `reason` is one of the class constants."""

    HTTP_STATUS = "http_status"
    TOO_LARGE = "too_large"
    TIMEOUT = "timeout"
    CONNECTION = "connection"

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        content_type: str = "",
        location: str | None = None,
        detail: str = "",
    ) -> None:
        super().__init__(f"{reason} {status or ''} {detail}".strip())
        self.reason = reason
        self.status = status
        self.content_type = content_type
        self.location = location
        self.detail = detail


async def download_to_file(
    client: httpx.AsyncClient,
    url: str,
    dest: Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    headers: dict[str, str] | None = None,
    follow_redirects: bool = False,
) -> Downloaded:
    """GET `url` into `dest` (written whole or not at all). Non-2xx, too large or network errors raise."""
    partial = dest.with_name(dest.name + ".part")
    complete = False
    try:
        async with client.stream("GET", url, headers=headers, follow_redirects=follow_redirects) as response:
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
