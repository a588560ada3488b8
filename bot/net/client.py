"""The httpx clients the bot makes: httpx's API, with aiohttp underneath — and the address guard.

Every vendor client, Slack file download and image URL fetch goes through an `httpx.AsyncClient` made
here. httpx's own connection pool (httpcore on anyio) polls every pooled socket and enters several cancel
scopes on every request; under load that was the largest part of the bot's own CPU (the throughput
benchmark: 35% less CPU on the event loop, bound ÷ measured 0.85 → 0.92). httpx-aiohttp keeps the httpx
interface — requests, streaming, timeouts, `MockTransport` in tests, proxies from the environment — and
sends the bytes with aiohttp, which the Slack SDK uses already.

Timeouts map onto aiohttp's: `connect` → socket connect, `read` → each socket read, `pool` → waiting for
a connection. httpx's `write` timeout has no aiohttp counterpart; a stalled upload ends at the next read.

The address guard. A request sent with `extensions={PUBLIC_ONLY: True}` (bot.net.urls does, for image URLs
and vendor results) goes out through a second aiohttp session of the same client, whose connector
resolves the name once, refuses it unless every address it got passes `is_public_address`, and connects
only to those addresses: a DNS answer that changes after the check (rebinding) is never connected to.
Host header and TLS SNI stay the name. A socket factory checks the exact address again before each
connect, which also covers address literals (aiohttp does not resolve those). A refusal raises
`AddressRefused` — not an httpx error: it is a decision, not network trouble. The guarded session has its
own DNS cache and connection pool, so nothing an unguarded request resolved or opened is reused.
Not guarded: requests through a proxy (the proxy resolves the name and connects; bot.net.urls' `check_url`
has looked the name up beforehand, which is all a client behind a proxy can do) and requests on an
injected transport (`MockTransport` in tests).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable
from typing import Any

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from httpx_aiohttp import AiohttpTransport, HttpxAiohttpClient

AddressRule = Callable[[str], bool]

PUBLIC_ONLY = "cutout.public_only"  # a request extension: connect only to addresses that pass the rule

# Ranges `ipaddress` calls global (in Python 3.11) that still lead somewhere private or unknown: addresses
# that embed or translate to an IPv4 address the rule never saw, and the deprecated site-local range.
_NOT_PUBLIC_IPV6 = tuple(
    ipaddress.IPv6Network(network)
    for network in (
        "::/96",  # IPv4-compatible, ::a.b.c.d
        "::ffff:0:0/96",  # IPv4-mapped
        "64:ff9b::/96",  # NAT64
        "64:ff9b:1::/48",  # local-use NAT64
        "2001::/32",  # Teredo
        "2002::/16",  # 6to4
        "fec0::/10",  # site-local
    )
)


def is_public_address(address: str) -> bool:
    """The one address rule: True only for an address `ipaddress` calls global that is not multicast and
    not in one of the IPv6 ranges above. Anything that does not parse is not public."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if not ip.is_global or ip.is_multicast:
        return False
    return not (isinstance(ip, ipaddress.IPv6Address) and any(ip in net for net in _NOT_PUBLIC_IPV6))


class AddressRefused(Exception):
    """`host` resolved to `address`, which the address rule refuses; nothing was connected to."""

    def __init__(self, host: str, address: str) -> None:
        super().__init__(f"{host} resolves to a refused address ({address})")
        self.host = host
        self.address = address


async def checked_addresses(
    host: str, port: int, *, rule: AddressRule = is_public_address, family: int = socket.AF_UNSPEC
) -> list[tuple[int, int, str, int]]:
    """Resolve `host` once: every (family, proto, address, port) it has, if each passes `rule`.
    Raises AddressRefused if one does not, socket.gaierror (or UnicodeError) if the name is not found."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
    found: list[tuple[int, int, str, int]] = []
    for info_family, _, proto, _, sockaddr in infos:
        address = str(sockaddr[0])
        if not rule(address):
            raise AddressRefused(host, address)
        found.append((info_family, proto, address, int(sockaddr[1])))
    if not found:
        raise socket.gaierror(socket.EAI_NONAME, "no addresses")
    return found


class CheckedResolver(AbstractResolver):
    """An aiohttp resolver that gives the connector only addresses that passed the rule, all or nothing."""

    def __init__(self, rule: AddressRule = is_public_address) -> None:
        self._rule = rule

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=found_port,
                family=found_family,
                proto=proto,
                flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            )
            for found_family, proto, address, found_port in await checked_addresses(
                host, port, rule=self._rule, family=family
            )
        ]

    async def close(self) -> None:
        pass


def _checked_socket(rule: AddressRule) -> Callable[[Any], socket.socket]:
    """A socket factory for aiohttp's connector: the address about to be connected to must pass `rule`."""

    def make(addr_info: Any) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        address = str(sockaddr[0])
        if not rule(address):
            raise AddressRefused(address, address)
        return socket.socket(family=family, type=type_, proto=proto)

    return make


class _AiohttpTransport(AiohttpTransport):
    """httpx-aiohttp's transport; with `rule`, its session connects only to addresses that pass it."""

    def __init__(self, *, rule: AddressRule | None = None, **options: Any) -> None:
        super().__init__(**options)
        self._rule = rule

    def get_client(self) -> aiohttp.ClientSession:
        if self._rule is None:
            return super().get_client()
        limit = {"limit": self.limits.max_connections} if self.limits.max_connections is not None else {}
        connector = aiohttp.TCPConnector(
            keepalive_timeout=self.limits.keepalive_expiry,
            ssl=self.ssl_context,
            resolver=CheckedResolver(self._rule),
            socket_factory=_checked_socket(self._rule),
            **limit,  # type: ignore[arg-type]
        )
        return aiohttp.ClientSession(connector=connector)


class _Transport(httpx.AsyncBaseTransport):
    """Routes `PUBLIC_ONLY` requests to a guarded session (made on first use), the rest to a plain one,
    and names connection failures for what they are: httpx-aiohttp maps every aiohttp connection error to
    `ConnectTimeout`, which would tell the user a vendor timed out when it refused the connection or hung
    up."""

    def __init__(self, *, address_rule: AddressRule = is_public_address, **options: Any) -> None:
        self._options = options
        self._rule = address_rule
        self._plain = _AiohttpTransport(**options)
        self._guarded: _AiohttpTransport | None = None

    def _for(self, request: httpx.Request) -> _AiohttpTransport:
        if not request.extensions.get(PUBLIC_ONLY) or self._options.get("proxy") is not None:
            return self._plain
        if self._guarded is None:
            self._guarded = _AiohttpTransport(rule=self._rule, **self._options)
        return self._guarded

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._for(request).handle_async_request(request)
        except httpx.ConnectTimeout as error:
            cause = error.__cause__
            if isinstance(cause, TimeoutError) or not isinstance(cause, aiohttp.ClientConnectionError):
                raise
            kind = type(cause).__name__
            if isinstance(cause, aiohttp.ClientConnectorError):
                raise httpx.ConnectError(f"could not connect ({kind})") from cause
            if isinstance(cause, aiohttp.ServerDisconnectedError):
                raise httpx.RemoteProtocolError(
                    "the server closed the connection without answering"
                ) from cause
            raise httpx.ReadError(f"the connection failed ({kind})") from cause

    async def aclose(self) -> None:
        await self._plain.aclose()
        if self._guarded is not None:
            await self._guarded.aclose()


class _Client(HttpxAiohttpClient):
    """httpx-aiohttp's client with the transport above, for direct connections and proxies alike."""

    def __init__(self, *, address_rule: AddressRule = is_public_address, **options: Any) -> None:
        self._address_rule = address_rule  # read by _init_transport, which httpx calls from __init__
        super().__init__(**options)

    def _init_transport(  # type: ignore[override]
        self, *, transport: httpx.AsyncBaseTransport | None = None, **options: Any
    ) -> httpx.AsyncBaseTransport:
        if transport is not None:
            return transport
        return _Transport(address_rule=self._address_rule, **options)

    def _init_proxy_transport(  # type: ignore[override]
        self, proxy: httpx.Proxy, **options: Any
    ) -> httpx.AsyncBaseTransport:
        return _Transport(proxy=proxy, **options)


def http_client(*, address_rule: AddressRule = is_public_address, **options: Any) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` (same arguments) whose requests go out through aiohttp. `address_rule` is
    what `PUBLIC_ONLY` requests must connect to (tests narrow it to one loopback address)."""
    return _Client(address_rule=address_rule, **options)
