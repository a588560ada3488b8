"""Fetching images by URL without being turned against the network the bot runs in.

A URL is fetched only over https, and only from public addresses: its name is resolved once, every
address it has must pass `bot.net.client.is_public_address` (what `ipaddress` calls global, minus
multicast and the IPv6 ranges that embed or translate to an IPv4 address, and site-local), and the
connection is made to those checked addresses — bot.net.client's guard, so a DNS answer that changes
between a check and the connection (rebinding) is not connected to. Redirects are followed by hand, each
hop checked again. `check_url` applies the same rule up front, for a friendly early message in handlers.
`CUTOUT_ALLOW_PRIVATE_URLS=true` lifts these rules, for tests against local servers.

Every fetch has a deadline, first byte to last, across all its redirects (DownloadError DEADLINE).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from bot.domain.failures import SourceError
from bot.domain.text import quote
from bot.net.client import AddressRefused, checked_addresses
from bot.net.downloads import DEFAULT_DEADLINE_S, Downloaded, DownloadError, deadline, download_to_file

MAX_REDIRECTS = 3


def _not_public(host: str) -> SourceError:
    return SourceError(
        code="URL_NOT_PUBLIC",
        message=f"{quote(host)} points at a private or local address, which the bot does not fetch.",
    )


async def check_url(url: str, *, allow_private: bool) -> None:
    """Raise SourceError unless `url` may be fetched. A URL `urlsplit` cannot read (an unclosed `[`, a
    bracketed host that is not an IP address) is refused as invalid, like one with no host."""
    try:
        parts = urlsplit(url)
    except ValueError:
        raise SourceError(code="URL_INVALID", message="That URL's host name cannot be read.") from None
    if parts.scheme != "https" and not (allow_private and parts.scheme == "http"):
        raise SourceError(code="URL_NOT_HTTPS", message="Only https:// image URLs can be used.")
    if not parts.hostname:
        raise SourceError(code="URL_INVALID", message="That URL has no host name.")
    if parts.username or parts.password:
        raise SourceError(
            code="URL_INVALID", message="URLs with a user name or password in them are not fetched."
        )
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise SourceError(code="URL_INVALID", message="That URL's port is not a port number (1 to 65535).")
    if allow_private:
        return
    try:
        await checked_addresses(parts.hostname, port or 443)
    except AddressRefused:
        raise _not_public(parts.hostname) from None
    except (OSError, UnicodeError):
        raise SourceError(
            code="URL_UNRESOLVABLE", message=f"The host {quote(parts.hostname)} could not be found."
        ) from None


async def fetch_url(
    http: httpx.AsyncClient,
    url: str,
    dest: Path,
    *,
    allow_private: bool,
    max_bytes: int,
    deadline_s: float | None = DEFAULT_DEADLINE_S,
) -> Downloaded:
    """Download `url` into `dest` within `deadline_s` (all hops together), checking every redirect hop
    and connecting only to checked addresses. Raises DownloadError or SourceError."""
    current = url
    async with deadline(deadline_s):
        for _ in range(MAX_REDIRECTS + 1):
            await check_url(current, allow_private=allow_private)
            try:
                return await download_to_file(
                    http, current, dest, max_bytes=max_bytes, deadline_s=None, public_only=not allow_private
                )
            except AddressRefused as refused:  # the name's answer changed since check_url: rebinding
                raise _not_public(urlsplit(current).hostname or refused.host) from None
            except DownloadError as error:
                if error.status in (301, 302, 303, 307, 308) and error.location:
                    current = urljoin(current, error.location)
                    continue
                raise
    raise SourceError(code="URL_TOO_MANY_REDIRECTS", message="The URL redirected too many times.")
