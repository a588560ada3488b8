"""Every input gets an answer (hardening, point 10): generated text thrown at the grammar, at the real bot's
`/cutout` handler and at URL intake. Each input gets a value of the documented type or a clear refusal
(ParseError or SourceError, with a message for the user), no other exception escapes, nothing the user
typed comes back as live markup, and the bot stays up.

Hypothesis keeps no example database here (`database=None`): every run draws afresh. The end-to-end test
starts one bot and feeds it every example from a sync `@given` function driven on an `asyncio.Runner` the
test owns, so that after the last example it can still ask the same bot for `help` and `/healthz`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
import string
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.domain.failures import SourceError
from bot.domain.grammar import (
    MAX_COMMAND_CHARS,
    MAX_LIMIT,
    MODE_WORDS,
    SUB_COMMANDS,
    AutoCommand,
    CancelCommand,
    DefaultCommand,
    HelpCommand,
    HistoryCommand,
    LimitCommand,
    Mode,
    ParseError,
    RunCommand,
    Spec,
    StatusCommand,
    UsageCommand,
    parse_command,
    parse_spec,
    parse_thread_reply,
    parse_upload_text,
)
from bot.domain.text import code, escape, from_slack, mrkdwn
from bot.domain.usage import LimitScope
from bot.net.client import is_public_address
from bot.net.urls import check_url
from fakes.net import wait_for
from handlers.commands import url_file_name
from tests import fault_report
from tests.e2e.harness import Harness, running_bot

MAX_REFUSAL_CHARS = 700  # the longest refusal: every mode and sub-command listed, a long word escaped
LIVE_MARKUP = ("<!", "<@", "<#", "<http")  # what user text must never come back as
SQLITE_MAX_INTEGER = 2**63 - 1
PUBLIC_TEST_ADDRESS = "93.184.216.34"  # what every generated name resolves to…
PRIVATE_TEST_ADDRESS = "10.0.0.7"  # …except names under PRIVATE_SUFFIX
PRIVATE_SUFFIX = ".internal"

# --- strategies --------------------------------------------------------------------------------------

# Slack's markup characters, separators, digits and the size sign, then anything unicode has.
MARKUP_CHARS = list("<>&|,`@!#:/ \t\n*_~.%?=^x×0123456789")
WIDE_ALPHABET = st.one_of(st.sampled_from(MARKUP_CHARS), st.characters())
SENDABLE_ALPHABET = st.one_of(  # what an HTTP form can carry: no lone surrogates
    st.sampled_from(MARKUP_CHARS), st.characters(exclude_categories=("Cs",))
)

GRAMMAR_WORDS = sorted(
    {w for words in MODE_WORDS.values() for w in words}
    | {m.value for m in Mode}
    | set(SUB_COMMANDS)
    | {"on", "off", "whitebk", "cutout", "/cutout", "WIDTHxHEIGHT"}
)
SLACK_MARKUP = [
    "<@U123>",
    "<@U0BOT|cutout>",
    "<@U0BOT|cutout>:",
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<#C123|general>",
    "<!subteam^S123|@team>",
    "&lt;!channel&gt;",
    "&lt;@U123&gt;",
    "&lt;https://a.b/c.jpg&gt;",
    "&amp;",
    "&amp;lt;",
    "&lt;",
    "&gt;",
    "<",
    ">",
    "|",
    "`",
    "```",
]
SEPARATORS = st.sampled_from([" ", " ", ",", ", ", "  ", "\n", "\t", " , ", ",,"])


def _cased(word: str) -> st.SearchStrategy[str]:
    return st.sampled_from([word, word.upper(), word.title()])


grammar_words = st.sampled_from(GRAMMAR_WORDS).flatmap(_cased)
sizes = st.builds(
    lambda w, sign, h: f"{w}{sign}{h}",
    st.integers(0, 10**7),
    st.sampled_from(["x", "X", "×", "*", ""]),
    st.integers(0, 10**7),
)
numbers = st.one_of(
    st.integers(-(10**3), 10**4).map(str),
    st.integers(2**63 - 3, 10**30).map(str),  # past what SQLite stores
    st.integers(0, 10**30).map(lambda n: f"#{n}"),
    st.text("0123456789", min_size=15, max_size=25),
    st.sampled_from(["١٢", "１２", "0x10", "1e9", "#", "00000000000000000000001"]),
)

percent_escapes = st.integers(0, 255).map(lambda b: f"%{b:02X}")
path_parts = st.lists(
    st.one_of(
        st.text(st.sampled_from(string.ascii_letters + string.digits + "-._~!$'()*+;=:@"), max_size=10),
        percent_escapes,
        st.sampled_from(
            ["a.jpg", "shirt.png", "<!channel>.jpg", "%3C!channel%3E.jpg", "..", "%2F..%2F", "%00", "%0A"]
        ),
        st.text(st.characters(exclude_categories=("Cs", "Zs", "Cc")), max_size=6),
    ),
    max_size=4,
).map("/".join)
queries = st.one_of(
    st.just(""),
    st.lists(
        st.tuples(st.text(string.ascii_letters, max_size=4), st.one_of(st.text(max_size=6), percent_escapes)),
        max_size=3,
    ).map(lambda pairs: "?" + "&".join(f"{k}={v}" for k, v in pairs)),
)
ports = st.one_of(
    st.just(""),
    st.integers(0, 100_000).map(lambda p: f":{p}"),
    st.sampled_from([":", ":abc", ":-1", ":+80", ":١٢٣", ": 80", ":0080", ":65535", ":65536"]),
)
schemes = st.sampled_from(["https", "http", "HTTPS", "Https", "ftp", "file", "javascript", "data"])
userinfo = st.sampled_from(["", "", "", "user@", "user:pass@", ":@", "a%40b@"])
ip_hosts = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
)
name_hosts = st.one_of(
    st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z]{2,6}){1,2}\Z"),
    st.text(
        st.characters(exclude_categories=("Cs", "Zs", "Cc"), exclude_characters="/?#@:[]\\%"),
        min_size=1,
        max_size=12,
    ).map(lambda label: f"{label}.com"),  # IDNA: unicode, over-long or empty labels
    st.sampled_from(["bücher.example", "xn--bcher-kva.example", "a" * 64 + ".com", "x..com", ".x", "x.com."]),
)
odd_hosts = st.sampled_from(
    [
        "",
        "localhost",
        "2130706433",  # 127.0.0.1 written as one number
        "0x7f.1",
        "017700000001",
        "[::1",
        "[x]",
        "[v1.x]",
        "[fe80::1%25eth0]",
        "[::ffff:127.0.0.1]",
        "[64:ff9b::a00:1]",
        "127.0.0.1%00.example.com",
        "exa mple.com",
        "ex%41.com",
        "x\uff03y.com",  # a fullwidth #: NFKC turns it into a separator
        "<!channel>",
        "*",
    ]
)


def urls(hosts: st.SearchStrategy[str], scheme: st.SearchStrategy[str] = schemes) -> st.SearchStrategy[str]:
    return st.builds(
        lambda s, u, h, p, path, q: f"{s}://{u}{h}{p}/{path}{q}",
        scheme,
        userinfo,
        hosts,
        ports,
        path_parts,
        queries,
    )


any_urls = urls(st.one_of(ip_hosts, name_hosts, odd_hosts))
links = st.builds(
    lambda url, label: f"<{url}|{label}>" if label else f"<{url}>",
    urls(name_hosts, st.sampled_from(["https", "http"])),
    st.text(st.sampled_from(list("ab <!@>&|")), max_size=8),
)


def command_texts(
    url_strategy: st.SearchStrategy[str], alphabet: st.SearchStrategy[str]
) -> st.SearchStrategy[str]:
    """Text as Slack sends it after `/cutout`: real words mixed with sizes, numbers, URLs, Slack markup and
    noise; a sub-command with arguments; a mode with its own words and a URL; free text; or text around
    the length limit."""
    token = st.one_of(
        grammar_words,
        grammar_words,
        sizes,
        numbers,
        url_strategy,
        st.sampled_from(SLACK_MARKUP),
        st.text(alphabet, min_size=1, max_size=12),
    )
    structured = st.lists(st.tuples(token, SEPARATORS), max_size=8).map(
        lambda pairs: "".join(t + s for t, s in pairs).strip()
    )
    sub_commands = st.builds(
        lambda head, args: " ".join([head, *args]),
        st.sampled_from(SUB_COMMANDS).flatmap(_cased),
        st.lists(st.one_of(numbers, numbers, token), max_size=2),
    )
    runs = st.sampled_from(list(Mode)).flatmap(
        lambda mode: st.builds(
            lambda words, url: " ".join([mode.value, *words, url]),
            st.lists(st.one_of(st.sampled_from(MODE_WORDS[mode]).flatmap(_cased), sizes), max_size=3),
            url_strategy,
        )
    )
    free = st.text(alphabet, max_size=120)
    long = st.builds(
        lambda head, n: head + " " + "x" * n,
        st.sampled_from(["apparel", "cancel", "default product", "nice"]),
        st.integers(MAX_COMMAND_CHARS - 20, MAX_COMMAND_CHARS + 20),
    )
    return st.one_of(structured, structured, sub_commands, runs, free, long)


slack_texts = command_texts(st.one_of(any_urls, links), WIDE_ALPHABET)

# --- checks ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _passed_through() -> Iterator[None]:
    yield


def _check_refusal(error: ParseError) -> None:
    with pytest.raises(ParseError), _passed_through():  # Python writes __traceback__ on the way out
        raise error
    message = error.message
    assert isinstance(message, str) and message.strip(), f"an empty refusal for {error.word!r}"
    assert len(message) <= MAX_REFUSAL_CHARS, f"a {len(message)}-character refusal"
    shown = mrkdwn(message)  # what Slack gets
    for markup in LIVE_MARKUP:
        assert markup not in shown.casefold(), f"{markup} comes back live in {shown!r}"


def _check_spec(spec: object) -> None:
    assert isinstance(spec, Spec)
    assert parse_spec(spec.words()) == spec, f"{spec.words()!r} does not read back as {spec!r}"


def _check_command(command: object) -> None:
    match command:
        case RunCommand(spec=spec, url=url):
            _check_spec(spec)
            assert url is None or (
                isinstance(url, str) and re.match(r"(?i)https?://[^\s<>|]+\Z", url) is not None
            ), url
        case CancelCommand(task_id=task_id):
            assert task_id is None or (type(task_id) is int and 0 <= task_id <= SQLITE_MAX_INTEGER), task_id
        case DefaultCommand(spec=spec):
            if spec is not None:
                _check_spec(spec)
        case AutoCommand(on=on):
            assert on is None or type(on) is bool
        case LimitCommand(scope=scope, user_id=user_id, max_images=count, period=period, off=off):
            assert scope is not None or (user_id, count, period, off) == (None, None, None, False)
            assert (
                off
                or scope is None
                or (type(count) is int and 0 <= count <= MAX_LIMIT and period is not None)
            )
            assert (user_id is not None) is (scope is LimitScope.USER), (scope, user_id)
        case HelpCommand() | StatusCommand() | HistoryCommand() | UsageCommand():
            pass
        case _:
            raise AssertionError(f"not a command: {command!r}")


def _parsed_or_refused(parse: Callable[[str], Any], text: str) -> Any:
    try:
        return parse(text)
    except ParseError as error:
        _check_refusal(error)
        return None


# --- 1. the grammar and the escaping ----------------------------------------------------------------


@settings(max_examples=400, deadline=None, database=None)
@given(slack_texts)
@example("cancel 99999999999999999999")  # the holes fixed before: a task number SQLite cannot hold,
@example("product https://x.com:99999/a.jpg")  # an impossible port,
@example("product https://[::1/a.jpg")  # a URL urlsplit cannot read
@example("product WIDTHxHEIGHT")  # found here: the size placeholder of the help read as a class set
def test_every_text_parses_to_a_command_or_is_refused_clearly(text: str) -> None:
    typed = from_slack(text)
    command = _parsed_or_refused(parse_command, typed)
    if command is not None:
        _check_command(command)
    for parse in (parse_upload_text, parse_thread_reply):
        spec = _parsed_or_refused(parse, typed)
        if spec is not None:
            _check_spec(spec)


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.sampled_from(["nice", "New", "see", "😀", "look:", "cutouts", "Apparel-ish"]),
    st.text(WIDE_ALPHABET, max_size=60),
    st.integers(0, 3 * MAX_COMMAND_CHARS),
)
@example(first="nice", rest="", padding=MAX_COMMAND_CHARS)
def test_a_caption_is_never_read_as_a_spec_however_long(first: str, rest: str, padding: int) -> None:
    text = f"{first} {rest} " + "x" * padding
    assert parse_upload_text(text) is None
    assert parse_thread_reply(text) is None


@settings(max_examples=300, deadline=None, database=None)
@given(
    st.lists(st.one_of(st.sampled_from(SLACK_MARKUP), st.text(WIDE_ALPHABET, max_size=4)), max_size=12).map(
        "".join
    )
)
def test_escaping_is_undone_by_from_slack_and_leaves_no_markup(text: str) -> None:
    escaped = escape(text)
    assert "<" not in escaped and ">" not in escaped
    assert from_slack(escaped) == text
    shown = code(text)
    assert "<" not in shown and ">" not in shown and shown.count("`") == 2


# --- 2. the `/cutout` handler, end to end --------------------------------------------------------------

E2E_EXAMPLES = 60
ANSWER_TIMEOUT_S = 10.0
LOCAL_HOSTS = ("127.0.0.1", "::1")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _fetches_nothing_remote(text: str) -> bool:
    """Whether the command, if it names a URL, names one on this machine (or one the bot refuses unread)."""
    try:
        command = parse_command(from_slack(text))
    except Exception:  # refused, or a parser bug: the bot fetches nothing either way; let it answer
        return True
    if not isinstance(command, RunCommand) or command.url is None:
        return True
    try:
        return urlsplit(command.url).hostname in (*LOCAL_HOSTS, None)
    except ValueError:
        return True


def _answers(harness: Harness) -> list[str]:
    slack = harness.slack
    return [str(r.get("text") or "") for r in slack.responses] + [e.text for e in slack.ephemerals]


OWN_MARKUP = ("<@U0ALICE>", "<#C0GENERAL>")  # the bot names the harness's user and channel itself


def _live_markup_in(text: str) -> list[str]:
    """Markup that pings or links someone, other than the bot's own mentions of the user and channel."""
    for own in OWN_MARKUP:
        text = text.replace(own, "")
    folded = text.casefold()
    return [
        markup
        for markup in ("<!channel", "<!here", "<!everyone", "<!subteam", "<@", "<#")
        if markup in folded
    ]


async def _send_one(harness: Harness, text: str, answered: list[str]) -> None:
    slack = harness.slack
    if len(_answers(harness)) != len(answered):
        late = _answers(harness)[len(answered) :]
        answered[:] = _answers(harness)  # so the examples after this one are judged on their own
        raise AssertionError(f"an earlier command got another answer: {late}")
    fault_report.bad_input()
    assert await slack.send_command(harness.bot_url, text) == 200
    new = await wait_for(
        lambda: _answers(harness)[len(answered) :], timeout=ANSWER_TIMEOUT_S, what=f"an answer to {text!r}"
    )
    answered.extend(new)
    assert len(new) == 1, f"{text!r} got {len(new)} answers: {new}"
    answer = new[0]
    assert answer.strip(), f"{text!r} got an empty answer"
    assert not _live_markup_in(answer), f"{text!r} was answered with live markup: {answer!r}"
    assert all(r.get("response_type") == "ephemeral" for r in slack.responses), "a command answered in public"


async def _still_up(harness: Harness, answered: list[str]) -> None:
    slack = harness.slack
    assert harness.bot.runner is not None
    await harness.bot.runner.run_until_idle(timeout_s=30)
    tasks = await harness.store.user_tasks("U0ALICE", limit=10_000)
    assert all(t.state.final for t in tasks), [(t.id, t.state) for t in tasks if not t.state.final]
    assert not [t for t in tasks if t.error_code == "INTERNAL_ERROR"], "a task hit an internal error"
    for posted in slack.messages:  # the URL runs' parent messages and their thread replies
        assert not _live_markup_in(posted.text), f"the bot posted live markup: {posted.text!r}"

    await harness.command("help")  # answered after every earlier answer, so a late second one shows here
    new = await wait_for(lambda: _answers(harness)[len(answered) :], what="the help")
    assert len(new) == 1 and "/cutout" in new[0], f"after the help: {new}"
    async with (
        aiohttp.ClientSession() as session,
        session.get(harness.bot_url.replace("/slack/events", "/healthz")) as health,
    ):
        assert health.status == 200


def test_every_command_gets_one_answer_and_the_bot_stays_up(tmp_path: Path) -> None:
    with asyncio.Runner() as runner:
        bot = running_bot(tmp_path)
        harness = runner.run(bot.__aenter__())
        try:
            web_port = harness.web.url.rsplit(":", 1)[1]
            local_urls = st.builds(
                lambda scheme, host, port, path, query: f"{scheme}://{host}:{port}/{path}{query}",
                st.sampled_from(["http", "https", "HTTP"]),
                st.sampled_from(["127.0.0.1", "[::1]", "[::1", "[127.0.0.1]", "[x]"]),  # 3 unreadable
                st.sampled_from([web_port, web_port, str(_closed_port()), "0", "99999", "abc"]),
                path_parts,
                queries,
            )
            local_links = st.builds(
                lambda url, label: f"<{url}|{label}>", local_urls, st.sampled_from(["", "x", "<!here>"])
            )
            texts = command_texts(st.one_of(local_urls, local_links), SENDABLE_ALPHABET).filter(
                _fetches_nothing_remote
            )
            answered: list[str] = []

            @settings(
                max_examples=E2E_EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            )
            @given(texts)
            @example("cancel 99999999999999999999")
            @example("product http://127.0.0.1:99999/a.jpg")
            @example("product http://[::1/a.jpg")
            @example("product WIDTHxHEIGHT")
            def one_command(text: str) -> None:
                runner.run(_send_one(harness, text, answered))

            one_command()
            runner.run(_still_up(harness, answered))
        finally:
            runner.run(bot.__aexit__(None, None, None))


# --- 3. URL intake ---------------------------------------------------------------------------------------

_system_getaddrinfo = socket.getaddrinfo


def _offline_getaddrinfo(
    host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
) -> list[tuple[Any, ...]]:
    """getaddrinfo without the network: a numeric host read as the system reads it (no lookup is made for
    one), any name IDNA-encoded as the real call does (so it fails as the real one would) and answered with
    a public test address, or a private one under PRIVATE_SUFFIX."""
    try:
        return _system_getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
    except socket.gaierror:
        pass
    name = host.encode("idna") if isinstance(host, str) else bytes(host)
    address = (
        PRIVATE_TEST_ADDRESS if name.rstrip(b".").endswith(PRIVATE_SUFFIX.encode()) else PUBLIC_TEST_ADDRESS
    )
    return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]


@pytest.fixture
def offline_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", _offline_getaddrinfo)


def _check_source_error(error: SourceError) -> None:
    assert error.code and isinstance(error.code, str)
    assert error.message.strip()
    for markup in LIVE_MARKUP:
        assert markup not in error.message.casefold(), error.message


async def _verdict(url: str) -> SourceError | None:
    try:
        await check_url(url, allow_private=False)
    except SourceError as error:
        _check_source_error(error)
        return error
    return None


@settings(
    max_examples=400,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(url=any_urls)
@example(url="https://x.com:99999/a.jpg")
@example(url="https://[::1/a.jpg")
async def test_check_url_passes_or_refuses_every_url_and_names_it_safely(url: str, offline_dns: None) -> None:
    await _verdict(url)
    name = url_file_name(url)
    assert isinstance(name, str) and name
    assert not re.search(r"[\x00-\x1f\x7f]", name), name


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(address=st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)), port=st.integers(1, 65535))
async def test_an_address_literal_passes_exactly_when_it_is_public(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int, offline_dns: None
) -> None:
    host = f"[{address}]" if address.version == 6 else str(address)
    refused = await _verdict(f"https://{host}:{port}/a.jpg")
    if is_public_address(str(address)):
        assert refused is None, refused
    else:
        assert refused is not None and refused.code == "URL_NOT_PUBLIC", refused


@settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(name=name_hosts, port=st.integers(1, 65535))
async def test_a_name_that_resolves_privately_is_refused(name: str, port: int, offline_dns: None) -> None:
    refused = await _verdict(f"https://{name.rstrip('.')}{PRIVATE_SUFFIX}:{port}/a.jpg")
    assert refused is not None, (
        f"{name}{PRIVATE_SUFFIX} resolves to {PRIVATE_TEST_ADDRESS} and was let through"
    )
