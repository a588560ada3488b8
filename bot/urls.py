"""Fetching images by URL without being turned against the network the bot runs in.

A URL is fetched only over https, and only when every address its host resolves to is public (not
private, loopback, link-local, reserved, multicast or unspecified). Redirects are followed by hand, each
hop checked again. `CUTOUT_ALLOW_PRIVATE_URLS=true` lifts both rules, for tests against local servers.
Known limit: the address is checked before the connection is made, so a host whose DNS answer changes in
between (rebinding) is not caught.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from bot.downloads import Downloaded, DownloadError, download_to_file
from bot.failures import SourceError

MAX_REDIRECTS = 3


async def check_url(url: str, *, allow_private: bool) -> None:
    """Raise SourceError unless `url` may be fetched."""
    parts = urlsplit(url)
    if parts.scheme != "https" and not (allow_private and parts.scheme == "http"):
        raise SourceError(code="URL_NOT_HTTPS", message="Only https:// image URLs can be used.")
    if not parts.hostname:
        raise SourceError(code="URL_INVALID", message="That URL has no host name.")
    if parts.username or parts.password:
        raise SourceError(
            code="URL_INVALID", message="URLs with a user name or password in them are not fetched."
        )
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, parts.port or 443, type=socket.SOCK_STREAM
        )
    except (socket.gaierror, UnicodeError):
        raise SourceError(
            code="URL_UNRESOLVABLE", message=f"The host `{parts.hostname}` could not be found."
        ) from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global or address.is_multicast:
            raise SourceError(
                code="URL_NOT_PUBLIC",
                message=f"`{parts.hostname}` points at a private or local address, which the bot does not fetch.",
            )


async def fetch_url(
    http: httpx.AsyncClient, url: str, dest: Path, *, allow_private: bool, max_bytes: int
) -> Downloaded:
    """Download `url` into `dest`, checking every redirect hop. Raises DownloadError or SourceError."""
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        await check_url(current, allow_private=allow_private)
        try:
            return await download_to_file(http, current, dest, max_bytes=max_bytes)
        except DownloadError as error:
            if error.status in (301, 302, 303, 307, 308) and error.location:
                current = urljoin(current, error.location)
                continue
            raise
    raise SourceError(code="URL_TOO_MANY_REDIRECTS", message="The URL redirected too many times.")
