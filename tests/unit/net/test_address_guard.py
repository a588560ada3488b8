"""The address guard: one rule for every address the bot fetches from, a name resolved once and the
connection made to the checked addresses (so DNS rebinding finds nothing to connect to), and refusals
told to the user without echoing markup. Only 127.0.0.x is ever connected to."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from bot.domain.failures import SourceError
from bot.domain.text import mrkdwn
from bot.net.client import PUBLIC_ONLY, AddressRefused, http_client, is_public_address
from bot.net.urls import check_url, fetch_url

REFUSED = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.5.4",
    "192.168.0.10",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",  # noqa: S104 - an address refused, not bound
    "255.255.255.255",
    "224.0.1.1",  # multicast that ipaddress calls global
    "239.1.2.3",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fec0::1",  # site-local
    "ff0e::1",  # global-scope multicast
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::808:808",  # NAT64 of a public address: still not what the rule checked
    "64:ff9b:1::a00:1",  # local-use NAT64
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:808:808::1",
    "::127.0.0.1",  # IPv4-compatible
    "::8.8.8.8",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:8.8.8.8",
    "2001::1",  # Teredo
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "not an address",
    "",
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001:81c::200e"]


@pytest.mark.parametrize("address", REFUSED)
def test_the_rule_refuses_everything_not_plainly_public(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_the_rule_lets_public_addresses_through(address: str) -> None:
    assert is_public_address(address)


@pytest.mark.parametrize(
    "host",
    ["[64:ff9b::7f00:1]", "[2002:7f00:1::1]", "[::ffff:127.0.0.1]", "[2001::1]", "[fec0::1]", "[ff0e::1]"],
)
async def test_check_url_uses_the_same_rule(host: str) -> None:
    with pytest.raises(SourceError) as caught:
        await check_url(f"https://{host}/a.png", allow_private=False)
    assert caught.value.code == "URL_NOT_PUBLIC"


@pytest.mark.parametrize("port", ["99999", "65536", "0", "http"])
async def test_a_url_with_an_impossible_port_is_refused_plainly(port: str) -> None:
    with pytest.raises(SourceError) as caught:
        await check_url(f"https://x.com:{port}/a.jpg", allow_private=False)
    assert caught.value.code == "URL_INVALID"
    assert "port" in caught.value.message


@dataclass
class Lookups:
    """Stands in for the event loop's getaddrinfo: the n-th lookup of any name gets answers[n] (the last
    one from then on), so a name can be made to change its answer between two lookups."""

    answers: list[list[str]]
    names: list[str] = field(default_factory=list)

    async def __call__(self, host: str, port: int, *args: object, **kwargs: object) -> list[tuple]:
        self.names.append(host)
        answer = self.answers[min(len(self.names), len(self.answers)) - 1]
        if not answer:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        infos = []
        for address in answer:
            if ":" in address:
                infos.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
            else:
                infos.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
        return infos


def stub_dns(monkeypatch: pytest.MonkeyPatch, *answers: list[str]) -> Lookups:
    lookups = Lookups(list(answers))
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", lookups)
    return lookups


@dataclass
class Listener:
    """A TCP server on one loopback address that answers any request with its own address, and counts
    the connections it got and the Host headers it was sent."""

    address: str
    connections: int = 0
    hosts: list[str] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        head = await reader.readuntil(b"\r\n\r\n")
        for line in head.decode("latin-1").split("\r\n"):
            if line.lower().startswith("host:"):
                self.hosts.append(line.split(":", 1)[1].strip())
        body = self.address.encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: %d\r\n\r\n" % len(body))
        writer.write(body)
        await writer.drain()
        writer.close()


@pytest.fixture
async def two_listeners() -> AsyncIterator[tuple[Listener, Listener, int]]:
    """Servers on 127.0.0.1 and 127.0.0.2 at the same port: which one answers tells where we connected."""
    first, second = Listener("127.0.0.1"), Listener("127.0.0.2")
    server_1 = await asyncio.start_server(first.handle, "127.0.0.1", 0)
    port = server_1.sockets[0].getsockname()[1]
    try:
        server_2 = await asyncio.start_server(second.handle, "127.0.0.2", port)
    except OSError:
        server_1.close()
        pytest.skip("127.0.0.2 is not usable here")
    try:
        yield first, second, port
    finally:
        for server in (server_1, server_2):
            server.close()
            await server.wait_closed()


def only(address: str) -> Callable[[str], bool]:
    """A narrowed rule for tests: the one loopback address that stands for 'public'."""
    return lambda candidate: candidate == address


async def test_rebinding_after_the_check_is_refused_and_nothing_is_connected(
    monkeypatch: pytest.MonkeyPatch, two_listeners: tuple[Listener, Listener, int], tmp_path: Path
) -> None:
    """check_url's lookup sees a public address; the connection's own lookup gets 127.0.0.1. The fetch
    is refused and the local server never sees a connection (it would, if httpx looked the name up
    again unchecked)."""
    first, _, port = two_listeners
    lookups = stub_dns(monkeypatch, ["93.184.216.34"], ["127.0.0.1"])
    async with http_client(timeout=5) as client:
        with pytest.raises(SourceError) as caught:
            await fetch_url(
                client,
                f"https://rebind.example:{port}/a.png",
                tmp_path / "a.png",
                allow_private=False,
                max_bytes=1000,
            )
    assert caught.value.code == "URL_NOT_PUBLIC"
    assert "‘rebind.example’" in caught.value.message
    assert lookups.names == ["rebind.example", "rebind.example"]  # the check's, then the connection's
    assert first.connections == 0
    assert not (tmp_path / "a.png").exists()


async def test_the_connection_goes_to_the_address_that_was_checked(
    monkeypatch: pytest.MonkeyPatch, two_listeners: tuple[Listener, Listener, int]
) -> None:
    """The name is looked up once for the connection, and the connection goes to what that lookup gave
    and the rule passed — not to what a second lookup would say; Host stays the name."""
    first, second, port = two_listeners
    lookups = stub_dns(monkeypatch, ["127.0.0.1"], ["127.0.0.2"])
    async with http_client(timeout=5, address_rule=only("127.0.0.1")) as client:
        for _ in range(2):
            response = await client.get(f"http://pinned.test:{port}/a.png", extensions={PUBLIC_ONLY: True})
            assert response.text == "127.0.0.1"
    assert lookups.names == ["pinned.test"]
    assert (first.connections, second.connections) == (2, 0)
    assert first.hosts == [f"pinned.test:{port}"] * 2


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key for `pinned.test` (made with the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command for a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(  # noqa: S603
        [  # noqa: S607
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=pinned.test",
            "-addext",
            "subjectAltName=DNS:pinned.test",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_tls_to_the_checked_address_still_names_the_host(
    monkeypatch: pytest.MonkeyPatch, certificate: tuple[Path, Path]
) -> None:
    """Over https the connection goes to the checked address while SNI and certificate checks use the
    name: the server sees `pinned.test` in its ClientHello, and a certificate for that name verifies."""
    cert, key = certificate
    server_names: list[str | None] = []
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    server_context.sni_callback = lambda _sock, name, _ctx: server_names.append(name)
    listener = Listener("127.0.0.1")
    server = await asyncio.start_server(listener.handle, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    lookups = stub_dns(monkeypatch, ["127.0.0.1"], ["127.0.0.2"])
    try:
        trusting = ssl.create_default_context(cafile=str(cert))
        async with http_client(timeout=5, verify=trusting, address_rule=only("127.0.0.1")) as client:
            response = await client.get(f"https://pinned.test:{port}/a.png", extensions={PUBLIC_ONLY: True})
    finally:
        server.close()
        await server.wait_closed()
    assert response.text == "127.0.0.1"
    assert server_names == ["pinned.test"]
    assert listener.hosts == [f"pinned.test:{port}"]
    assert lookups.names == ["pinned.test"]


async def test_a_name_with_any_refused_address_is_refused_whole(
    monkeypatch: pytest.MonkeyPatch, two_listeners: tuple[Listener, Listener, int]
) -> None:
    first, second, port = two_listeners
    stub_dns(monkeypatch, ["127.0.0.1", "127.0.0.2"])
    async with http_client(timeout=5, address_rule=only("127.0.0.1")) as client:
        with pytest.raises(AddressRefused) as caught:
            await client.get(f"http://mixed.test:{port}/a.png", extensions={PUBLIC_ONLY: True})
    assert (caught.value.host, caught.value.address) == ("mixed.test", "127.0.0.2")
    assert (first.connections, second.connections) == (0, 0)


async def test_an_address_literal_is_checked_too(two_listeners: tuple[Listener, Listener, int]) -> None:
    """aiohttp does not resolve address literals; the guard checks the address it is about to connect to."""
    first, second, port = two_listeners
    async with http_client(timeout=5, address_rule=only("127.0.0.1")) as client:
        with pytest.raises(AddressRefused):
            await client.get(f"http://127.0.0.2:{port}/a.png", extensions={PUBLIC_ONLY: True})
        allowed = await client.get(f"http://127.0.0.1:{port}/a.png", extensions={PUBLIC_ONLY: True})
    assert allowed.text == "127.0.0.1"
    assert (first.connections, second.connections) == (1, 0)


async def test_requests_without_the_guard_are_not_affected(
    two_listeners: tuple[Listener, Listener, int],
) -> None:
    """Vendor API calls and Slack downloads share the client type; only PUBLIC_ONLY requests are guarded."""
    _, second, port = two_listeners
    async with http_client(timeout=5, address_rule=only("127.0.0.1")) as client:
        response = await client.get(f"http://127.0.0.2:{port}/a.png")
    assert response.text == "127.0.0.2"
    assert second.connections == 1


async def test_the_test_switch_lifts_the_guard_for_fetches(
    two_listeners: tuple[Listener, Listener, int], tmp_path: Path
) -> None:
    first, _, port = two_listeners
    async with http_client(timeout=5) as client:
        downloaded = await fetch_url(
            client, f"http://127.0.0.1:{port}/a.png", tmp_path / "a.png", allow_private=True, max_bytes=1000
        )
    assert downloaded.path.read_bytes() == b"127.0.0.1"
    assert first.connections == 1


async def test_a_guarded_fetch_of_a_private_literal_never_connects(
    two_listeners: tuple[Listener, Listener, int], tmp_path: Path
) -> None:
    """Through fetch_url with the real rule: refused before any connection, with the friendly error."""
    first, _, port = two_listeners
    async with http_client(timeout=5) as client:
        with pytest.raises(SourceError) as caught:
            await fetch_url(
                client,
                f"https://127.0.0.1:{port}/a.png",
                tmp_path / "a.png",
                allow_private=False,
                max_bytes=1000,
            )
    assert caught.value.code == "URL_NOT_PUBLIC"
    assert first.connections == 0


async def test_host_names_in_refusals_are_escaped_in_slack(monkeypatch: pytest.MonkeyPatch) -> None:
    stub_dns(monkeypatch, ["10.0.0.1"], [])
    with pytest.raises(SourceError) as private:
        await check_url("https://<!channel>.example/a.png", allow_private=False)
    with pytest.raises(SourceError) as unknown:
        await check_url("https://<b>.example/a.png", allow_private=False)
    assert private.value.code == "URL_NOT_PUBLIC"
    assert unknown.value.code == "URL_UNRESOLVABLE"
    for refusal in (private.value, unknown.value):
        assert "<" not in mrkdwn(refusal.message) and ">" not in mrkdwn(refusal.message)
    assert "`&lt;!channel&gt;.example`" in mrkdwn(private.value.message)
    assert "`&lt;b&gt;.example`" in mrkdwn(unknown.value.message)


async def test_vendor_result_hosts_are_guarded(
    monkeypatch: pytest.MonkeyPatch, two_listeners: tuple[Listener, Listener, int], tmp_path: Path
) -> None:
    """A vendor's result URL whose host rebinds to a private address is refused, not fetched."""
    from bot.domain.failures import VendorRejected
    from bot.engines.vendors.http import VendorHTTP

    first, _, port = two_listeners
    stub_dns(monkeypatch, ["93.184.216.34"], ["127.0.0.1"])
    vendor = VendorHTTP(http_client(timeout=5), vendor="PicWish", key_var="PICWISH_API_KEY")
    try:
        with pytest.raises(VendorRejected) as caught:
            await vendor.fetch(f"https://files.example:{port}/result.png", tmp_path / "r.png")
    finally:
        await vendor.aclose()
    assert caught.value.code == "RESULT_URL_REFUSED"
    assert "(URL_NOT_PUBLIC)" in caught.value.user_text()
    assert first.connections == 0


async def test_an_injected_transport_still_sees_the_guard_request(tmp_path: Path) -> None:
    """fetch_url marks guarded requests; a transport other than ours simply sees the extension."""
    seen: list[object] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions.get(PUBLIC_ONLY))
        return httpx.Response(200, content=b"png", headers={"content-type": "image/png"})

    async with http_client(transport=httpx.MockTransport(answer)) as client:
        await fetch_url(
            client, "https://93.184.216.34/a.png", tmp_path / "a.png", allow_private=False, max_bytes=10
        )
        await fetch_url(
            client, "http://127.0.0.1/a.png", tmp_path / "b.png", allow_private=True, max_bytes=10
        )
    assert seen == [True, None]
