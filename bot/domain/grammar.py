"""The `/cutout` grammar (DESIGN §2): text → a typed command, or a ParseError that says what to type.

One parser serves the slash command, the text typed with an upload and the command-line tool.

    /cutout <mode> [options…] [image URL]      → RunCommand(spec, url)
    /cutout check <preset> [image URL]         → RunCommand(spec with `check`, url): measure, do not cut
    /cutout help | status | history            → HelpCommand / StatusCommand / HistoryCommand
    /cutout cancel [task]                      → CancelCommand(task_id)
    /cutout default [<mode> [options…]]        → DefaultCommand(spec)   (bare: show it)
    /cutout auto [on|off]                      → AutoCommand(on)        (bare: show it)
    /cutout limit [channel|workspace|@user N day|month | … off]  → LimitCommand (bare: list them)
    /cutout usage                              → UsageCommand: this month's images and their cost

Words are case-insensitive and order-free after the mode; lists are comma-separated. Any mode also takes
the listing words (`bot.domain.listing`): a marketplace preset (`amazon`…), `fill=80%`, `margin=5%`,
`bg=#F5F5F5` or `bg=transparent`, `size=1600` or `size=2000x1500`, and `shadow`.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from enum import StrEnum

from bot.domain.listing import Layout, Preset
from bot.domain.text import quote
from bot.domain.usage import LimitScope, Period

MAX_COMMAND_CHARS = 1000
MAX_TASK_NUMBER_DIGITS = 18  # task ids are SQLite integers (at most 2⁶³ − 1)
MIN_TARGET_SIDE = 100
MAX_TARGET_SIDE = 3000
SIZE_WORD = "WIDTHxHEIGHT"  # how the help and errors write a product size; typed as is, it is refused


class Mode(StrEnum):
    APPAREL = "apparel"
    PORTRAIT = "portrait"
    PRODUCT = "product"
    SEGMENT = "segment"


class Output(StrEnum):
    """What the result image is: the subject on transparency, on white, its mask, or cropped."""

    TRANSPARENT = "transparent"
    WHITE = "white"
    MASK = "mask"
    CROP = "crop"

    @property
    def description(self) -> str:
        """What the result is, in words: file titles say it, buttons show it capitalised."""
        return _OUTPUT_TITLES[self]


_OUTPUT_TITLES = {
    Output.TRANSPARENT: "transparent background",
    Output.WHITE: "white background",
    Output.MASK: "mask",
    Output.CROP: "cropped",
}


class SegmentClasses(StrEnum):
    """PicWish `class_type`: which semantic classes a segmentation returns."""

    CLOTHING = "clothing"
    FASHION = "fashion"
    PERSON = "person"
    ALL = "all"


CLOTH_CLASSES: tuple[str, ...] = ("tops", "coat", "skirt", "pants", "bag", "shoes", "hat")
SUB_COMMANDS: tuple[str, ...] = (
    "help", "status", "history", "cancel", "default", "auto", "check", "limit", "usage",
)  # fmt: skip
MAX_LIMIT = 10_000_000
_USER_RE = re.compile(r"^(?:<@([UW][A-Z0-9]+)(?:\|[^>]*)?>|([UW][A-Z0-9]{6,}))$", re.IGNORECASE)
CHECK_WORD = "check"
PRESET_WORDS: tuple[str, ...] = tuple(p.value for p in Preset)
# The listing words any mode takes, as the help and errors write them.
LISTING_WORDS: tuple[str, ...] = (
    *PRESET_WORDS,
    "fill=NN%",
    "margin=NN%",
    "bg=#RRGGBB",
    "bg=transparent",
    "size=N",
    "size=WxH",
    "shadow",
)
MIN_FILL, MAX_FILL = 0.10, 1.0
MAX_MARGIN = 0.40
MIN_CANVAS_SIDE, MAX_CANVAS_SIDE = 100, 10000

_OUTPUT_WORDS: dict[str, Output] = {
    "transparent": Output.TRANSPARENT,
    "white": Output.WHITE,
    "whitebk": Output.WHITE,
    "mask": Output.MASK,
    "crop": Output.CROP,
}
_SEGMENT_FLAGS = ("ultra", "parts", "hq", "cutouts")

# The option words each mode takes, spelled as a user would read them in the help and in errors.
MODE_WORDS: dict[Mode, tuple[str, ...]] = {
    Mode.APPAREL: (*CLOTH_CLASSES, "whiteBK", "white", "mask", "transparent", "local"),
    Mode.PORTRAIT: ("whiteBK", "white", "mask", "crop", "transparent", "local"),
    Mode.PRODUCT: ("white", "transparent", SIZE_WORD, "local"),
    Mode.SEGMENT: (*(c.value for c in SegmentClasses), *_SEGMENT_FLAGS, "local"),
}

_MODE_NAMES = frozenset(m.value for m in Mode)
_PERCENT_RE = re.compile(r"^(fill|margin)=(\d{1,3}(?:\.\d)?)%?$")
_COLOUR_RE = re.compile(r"^bg=#?([0-9a-f]{6})$")
_CANVAS_RE = re.compile(r"^size=(\d{1,6})(?:[x×](\d{1,6}))?$")
_SIZE_RE = re.compile(r"^(\d{1,6})[x×](\d{1,6})$")
_MENTION_RE = re.compile(r"^\s*<@([A-Z0-9]+)(?:\|[^>]*)?>[\s,:]*", re.IGNORECASE)
_URL_RE = re.compile(r"^<?(https?://[^\s<>|]+)(?:\|[^>]*)?>?$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Spec:
    """What to make of an image. Field defaults are the grammar's defaults."""

    mode: Mode
    output: Output = Output.TRANSPARENT
    classes: tuple[str, ...] = ()  # apparel cloth classes, in CLOTH_CLASSES order
    size: tuple[int, int] | None = None  # product targetWidth × targetHeight
    segment_classes: SegmentClasses = SegmentClasses.CLOTHING
    ultra: bool = False
    parts: bool = False
    hq: bool = False
    cutouts: bool = False
    local: bool = False
    layout: Layout | None = None  # laid out for a listing (a marketplace preset and/or options)
    check: Preset | None = None  # measure the image against this preset as it is: no cut, no vendor

    def words(self) -> str:
        """The canonical text of this spec; `parse_spec(spec.words()) == spec`."""
        if self.check is not None:
            return f"{CHECK_WORD} {self.check.value}"
        words: list[str] = [self.mode.value]
        if self.classes:
            words.append(",".join(self.classes))
        if self.mode is Mode.SEGMENT:
            if self.segment_classes is not SegmentClasses.CLOTHING:
                words.append(self.segment_classes.value)
            words.extend(flag for flag in _SEGMENT_FLAGS if getattr(self, flag))
        elif self.output is not Output.TRANSPARENT:
            words.append(self.output.value)
        if self.size is not None:
            words.append(f"{self.size[0]}x{self.size[1]}")
        if self.layout is not None:
            words.extend(self.layout.words())
        if self.local:
            words.append("local")
        return " ".join(words)

    def __str__(self) -> str:
        return self.words()


@dataclass(frozen=True, slots=True)
class RunCommand:
    spec: Spec
    url: str | None = None


@dataclass(frozen=True, slots=True)
class HelpCommand:
    pass


@dataclass(frozen=True, slots=True)
class StatusCommand:
    pass


@dataclass(frozen=True, slots=True)
class HistoryCommand:
    pass


@dataclass(frozen=True, slots=True)
class CancelCommand:
    task_id: int | None = None  # None: all of the user's unfinished tasks


@dataclass(frozen=True, slots=True)
class DefaultCommand:
    spec: Spec | None = None  # None: show the channel's default


@dataclass(frozen=True, slots=True)
class AutoCommand:
    on: bool | None = None  # None: show the channel's setting


@dataclass(frozen=True, slots=True)
class LimitCommand:
    """`/cutout limit …`: set (`max_images` and `period`), remove (`off`) or, with no scope, list the limits."""

    scope: LimitScope | None = None
    user_id: str | None = None  # for LimitScope.USER
    max_images: int | None = None
    period: Period | None = None
    off: bool = False


@dataclass(frozen=True, slots=True)
class UsageCommand:
    pass


Command = (
    RunCommand
    | HelpCommand
    | StatusCommand
    | HistoryCommand
    | CancelCommand
    | DefaultCommand
    | AutoCommand
    | LimitCommand
    | UsageCommand
)


@dataclass(eq=False)
class ParseError(Exception):
    """An invalid command. `message` is written for the user, in plain text (`bot.domain.text`).

    Not frozen: Python writes `__traceback__` on an exception that leaves a `contextlib` context manager,
    and a frozen (slotted) dataclass refuses that write, which turned the ParseError into a TypeError."""

    message: str
    word: str = ""
    valid: tuple[str, ...] = field(default=())
    suggestion: str | None = None

    def __str__(self) -> str:
        return self.message


def parse_command(text: str) -> Command:
    """Parse the text of `/cutout …` (or of the CLI's spec words). Raises ParseError."""
    words = _split(text)
    if not words:
        return HelpCommand()
    head, rest = words[0].casefold(), words[1:]
    if head == "help":
        _no_more(head, rest)
        return HelpCommand()
    if head == "status":
        _no_more(head, rest)
        return StatusCommand()
    if head == "history":
        _no_more(head, rest)
        return HistoryCommand()
    if head == "cancel":
        return _parse_cancel(rest)
    if head == "default":
        return DefaultCommand(_parse_spec_words(rest) if rest else None)
    if head == "auto":
        return _parse_auto(rest)
    if head == "limit":
        return _parse_limit(rest)
    if head == "usage":
        _no_more(head, rest)
        return UsageCommand()
    url = None
    if head == CHECK_WORD:
        if rest and (match := _URL_RE.match(rest[-1])):
            url, rest = match.group(1), rest[:-1]
        return RunCommand(_parse_check(rest), url)
    if rest and (match := _URL_RE.match(rest[-1])):
        url, rest = match.group(1), rest[:-1]
    return RunCommand(_parse_spec_words([words[0], *rest]), url)


def parse_spec(text: str) -> Spec:
    """Parse a spec alone (`CUTOUT_DEFAULT_SPEC`, a stored spec). Raises ParseError."""
    return _parse_spec_words(_split(text))


def _parse_check(rest: list[str]) -> Spec:
    """`check <preset>`: the image measured against a marketplace's rules as it is."""
    if not rest:
        raise ParseError(
            "Name the marketplace to check against, like ‘/cutout check amazon’. Valid words: "
            + ", ".join(f"‘{w}’" for w in PRESET_WORDS)
            + ".",
            valid=PRESET_WORDS,
        )
    if len(rest) != 1 or rest[0].casefold() not in PRESET_WORDS:
        if len(rest) == 1:
            raise _unknown(rest[0], PRESET_WORDS, "a marketplace ‘/cutout check’ knows")
        raise ParseError(
            f"‘/cutout check’ takes one marketplace; remove {_quote(rest[1])}.",
            word=rest[1],
            valid=PRESET_WORDS,
        )
    return Spec(mode=Mode.PRODUCT, check=Preset(rest[0].casefold()))


def parse_upload_text(text: str, *, bot_user_id: str | None = None) -> Spec | None:
    """The spec typed with an uploaded image, or None when the text is an ordinary caption.

    Text counts as an attempt at a spec when it starts with a bot mention, with the word `cutout`,
    with a mode word, or with `check` and a marketplace; such text that does not parse raises ParseError. Anything else is a caption,
    however long: the length limit applies only to an attempt at a spec. With `bot_user_id`, text that
    starts by mentioning someone else (`@ana check this shirt`) is talk to them: a caption.
    """
    stripped = text or ""
    addressed = False
    while match := _MENTION_RE.match(stripped):
        if bot_user_id is not None and match.group(1).upper() != bot_user_id.upper():
            return None
        stripped = stripped[match.end() :]
        addressed = True
    words = _split(stripped, limit=False)
    if words and words[0].casefold() in ("cutout", "/cutout"):
        words = words[1:]
        addressed = True
    if not words:
        return None
    is_check = words[0].casefold() == CHECK_WORD and len(words) > 1 and words[1].casefold() in PRESET_WORDS
    if words[0].casefold() not in _MODE_NAMES and not is_check and not addressed:
        return None  # ("check this out" is a caption; "check amazon" is a check)
    _check_length(stripped)
    return _parse_spec_words(words)


def parse_thread_reply(text: str, *, bot_user_id: str | None = None) -> Spec | None:
    """A reply in an image's thread (DESIGN §3 rule 6): its spec, or None for ordinary talk.

    People talk in threads, so a reply that does not parse is ignored — unless it is addressed to the
    bot (a mention, or the word `cutout` first), which raises ParseError so the user hears why."""
    try:
        return parse_upload_text(text, bot_user_id=bot_user_id)
    except ParseError:
        if _addressed(text, bot_user_id):
            raise
        return None


def _addressed(text: str, bot_user_id: str | None) -> bool:
    stripped = (text or "").strip()
    if match := _MENTION_RE.match(stripped):
        return bot_user_id is None or match.group(1).upper() == bot_user_id.upper()
    return stripped.casefold().startswith(("cutout", "/cutout"))


# --- internals ---------------------------------------------------------------------------------


def _check_length(text: str) -> None:
    if len(text) > MAX_COMMAND_CHARS:
        raise ParseError(
            f"That command is {len(text)} characters long; ‘/cutout’ takes at most {MAX_COMMAND_CHARS}. "
            "Try ‘/cutout help’."
        )


def _split(text: str, *, limit: bool = True) -> list[str]:
    if limit:
        _check_length(text)
    words: list[str] = []
    for chunk in text.split():
        if _URL_RE.match(chunk):
            words.append(chunk)
        else:
            words.extend(part for part in chunk.split(",") if part)
    return words


def _parse_spec_words(words: list[str]) -> Spec:
    if not words:
        raise ParseError(
            "Name a mode: " + ", ".join(f"‘{m.value}’" for m in Mode) + ".",
            valid=tuple(m.value for m in Mode),
        )
    head = words[0].casefold()
    if head == CHECK_WORD:
        return _parse_check(words[1:])
    try:
        mode = Mode(head)
    except ValueError:
        raise _unknown(
            words[0], (*(m.value for m in Mode), *SUB_COMMANDS), "a ‘/cutout’ mode or sub-command"
        ) from None
    valid = MODE_WORDS[mode]
    allowed = {w.casefold() for w in valid}
    output: Output | None = None
    classes: set[str] = set()
    size: tuple[int, int] | None = None
    segment_classes: SegmentClasses | None = None
    flags: set[str] = set()
    local = False
    listing = _ListingWords()
    for raw in words[1:]:
        word = raw.casefold()
        if listing.take(raw, word):
            continue
        if mode is Mode.PRODUCT and (match := _SIZE_RE.match(word)):
            if size is not None:
                raise _conflict(raw, "a size", f"{size[0]}x{size[1]}")
            size = _target_size(raw, int(match.group(1)), int(match.group(2)))
        elif word not in allowed:
            raise _unknown(raw, valid, f"a word ‘/cutout {mode.value}’ knows", also=PRESET_WORDS)
        elif word == SIZE_WORD.casefold():
            raise _size_error(raw)
        elif word == "local":
            local = True
        elif word in _OUTPUT_WORDS:
            chosen = _OUTPUT_WORDS[word]
            if output is not None and output is not chosen:
                raise _conflict(raw, "an output", output.value)
            output = chosen
        elif word in CLOTH_CLASSES:
            classes.add(word)
        elif word in _SEGMENT_FLAGS:
            flags.add(word)
        else:
            chosen_classes = SegmentClasses(word)
            if segment_classes is not None and segment_classes is not chosen_classes:
                raise _conflict(raw, "a class set", segment_classes.value)
            segment_classes = chosen_classes
    layout = listing.layout()
    if layout is not None:
        if size is not None:
            raise _conflict(f"{size[0]}x{size[1]}", "a size", layout.words()[0])
        if output is Output.MASK:
            raise ParseError(
                f"‘mask’ conflicts with ‘{layout.words()[0]}’: a listing image is the cut-out laid out on its "
                "background. Leave one out.",
                word="mask",
                valid=LISTING_WORDS,
            )
    return Spec(
        mode=mode,
        output=output or Output.TRANSPARENT,
        classes=tuple(c for c in CLOTH_CLASSES if c in classes),
        size=size,
        segment_classes=segment_classes or SegmentClasses.CLOTHING,
        ultra="ultra" in flags,
        parts="parts" in flags,
        hq="hq" in flags,
        cutouts="cutouts" in flags,
        local=local,
        layout=layout,
    )


class _ListingWords:
    """The listing words of one spec, as they are read: a preset, fill or margin, bg, size, shadow."""

    def __init__(self) -> None:
        self.preset: Preset | None = None
        self.fill: float | None = None
        self.margin: float | None = None
        self.background: tuple[int, int, int] | None = None
        self.transparent = False
        self.size: tuple[int, int] | None = None
        self.shadow = False
        self._seen: dict[str, str] = {}  # what → the word that set it

    def take(self, raw: str, word: str) -> bool:
        """Read `word` if it is a listing word (else False)."""
        if word in PRESET_WORDS:
            self._once("a marketplace", raw)
            self.preset = Preset(word)
        elif match := _PERCENT_RE.match(word):
            share = float(match.group(2)) / 100
            if match.group(1) == "fill":
                if not MIN_FILL <= share <= MAX_FILL:
                    raise _listing_error(
                        raw,
                        f"fill is a share of the canvas from {MIN_FILL:.0%} to {MAX_FILL:.0%}, like ‘fill=85%’",
                    )
                self._once("fill or margin", raw)
                self.fill = share
            else:
                if not 0 <= share <= MAX_MARGIN:
                    raise _listing_error(
                        raw, f"margin is a share of the canvas from 0% to {MAX_MARGIN:.0%}, like ‘margin=5%’"
                    )
                self._once("fill or margin", raw)
                self.margin = share
        elif word.startswith("bg="):
            self._once("a background", raw)
            if word == "bg=transparent":
                self.transparent = True
            elif word == "bg=white":
                self.background = (255, 255, 255)
            elif match := _COLOUR_RE.match(word):
                value = int(match.group(1), 16)
                self.background = ((value >> 16) & 255, (value >> 8) & 255, value & 255)
            else:
                raise _listing_error(raw, "a background is a colour like ‘bg=#F5F5F5’, or ‘bg=transparent’")
        elif word.startswith("size="):
            match = _CANVAS_RE.match(word)
            width = int(match.group(1)) if match else 0
            height = int(match.group(2) or width) if match else 0
            if not all(MIN_CANVAS_SIDE <= side <= MAX_CANVAS_SIDE for side in (width, height)):
                raise _listing_error(
                    raw,
                    f"a canvas is ‘size=1600’ or ‘size=2000x1500’, each side {MIN_CANVAS_SIDE}–{MAX_CANVAS_SIDE} pixels",
                )
            self._once("a canvas size", raw)
            self.size = (width, height)
        elif word == "shadow":
            self.shadow = True
        else:
            return False
        return True

    def _once(self, what: str, raw: str) -> None:
        if what in self._seen:
            raise _conflict(raw, what, self._seen[what])
        self._seen[what] = raw

    def layout(self) -> Layout | None:
        if not self._seen and not self.shadow:
            return None
        return Layout(
            preset=self.preset,
            fill=self.fill,
            margin=self.margin,
            background=self.background,
            transparent=self.transparent,
            size=self.size,
            shadow=self.shadow,
        )


def _listing_error(raw: str, rule: str) -> ParseError:
    return ParseError(f"{_quote(raw)}: {rule}.", word=raw, valid=LISTING_WORDS)


def _target_size(raw: str, width: int, height: int) -> tuple[int, int]:
    for side in (width, height):
        if not MIN_TARGET_SIDE <= side <= MAX_TARGET_SIDE:
            raise _size_error(raw)
    return (width, height)


def _size_error(raw: str) -> ParseError:
    return ParseError(
        f"{_quote(raw)}: each side of a target size must be {MIN_TARGET_SIDE}–{MAX_TARGET_SIDE} "
        f"pixels, like ‘800x800’.",
        word=raw,
        valid=(SIZE_WORD,),
    )


def _parse_cancel(rest: list[str]) -> CancelCommand:
    if not rest:
        return CancelCommand()
    number = rest[0].lstrip("#")
    if len(rest) == 1 and number.isascii() and number.isdigit() and len(number) <= MAX_TASK_NUMBER_DIGITS:
        return CancelCommand(int(number))
    raise ParseError(
        f"{_quote(rest[0])} is not a task number. Use ‘/cutout cancel’ for all your unfinished tasks "
        "or ‘/cutout cancel 42’ for one (numbers are in ‘/cutout status’).",
        word=rest[0],
        valid=("TASK-NUMBER",),
    )


def _parse_limit(rest: list[str]) -> LimitCommand:
    """`limit`, `limit channel 100 day`, `limit workspace 2000 month`, `limit @ana 50 day`, `limit channel off`."""
    if not rest:
        return LimitCommand()
    who, settings = rest[0], [word.casefold() for word in rest[1:]]
    user_id = None
    if who.casefold() in (LimitScope.CHANNEL, LimitScope.WORKSPACE):
        scope = LimitScope(who.casefold())
    elif match := _USER_RE.match(who):
        scope, user_id = LimitScope.USER, (match.group(1) or match.group(2)).upper()
    elif who.startswith("@"):
        raise ParseError(
            f"Slack sent {_quote(who)} as a name, not as the person: pick them from the @ menu as you type, or "
            "give their member id (U…, in their profile's ⋮ menu). If @ menus never work here, the app's "
            "/cutout command needs ‘Escape channels, users, and links’ on (manifest.yml sets it).",
            word=who,
            valid=("@user",),
        )
    else:
        raise ParseError(
            f"{_quote(who)} is not what a limit is for: ‘channel’, ‘workspace’ or a person (@name). "
            "Like ‘/cutout limit channel 100 day’, ‘/cutout limit @ana 20 month’ or ‘/cutout limit channel off’.",
            word=who,
            valid=("channel", "workspace", "@user"),
        )
    if settings == ["off"]:
        return LimitCommand(scope, user_id, off=True)
    number = settings[0] if settings else ""
    if (
        len(settings) != 2
        or not (number.isascii() and number.isdigit())
        or not 0 <= int(number) <= MAX_LIMIT
        or settings[1] not in (Period.DAY, Period.MONTH)
    ):
        raise ParseError(
            f"A limit is a number of images a day or a month (UTC), like ‘/cutout limit {who} 100 day’, or "
            f"‘/cutout limit {who} off’ to remove it.",
            word=" ".join(rest[1:]),
            valid=("N day", "N month", "off"),
        )
    return LimitCommand(scope, user_id, int(number), Period(settings[1]))


def _parse_auto(rest: list[str]) -> AutoCommand:
    if not rest:
        return AutoCommand()
    word = rest[0].casefold()
    if len(rest) == 1 and word in ("on", "off"):
        return AutoCommand(word == "on")
    raise _unknown(rest[0], ("on", "off"), "a setting of ‘/cutout auto’")


def _no_more(head: str, rest: list[str]) -> None:
    if rest:
        raise ParseError(
            f"‘/cutout {head}’ takes no more words; remove {_quote(rest[0])}.", word=rest[0], valid=()
        )


def _unknown(word: str, valid: tuple[str, ...], where: str, *, also: tuple[str, ...] = ()) -> ParseError:
    """`word` is not in `valid`; the closest of `valid` and `also` (words of every mode) is suggested."""
    choices = {v.casefold(): v for v in (*valid, *also)}
    close = difflib.get_close_matches(word.casefold(), list(choices), n=1, cutoff=0.6)
    suggestion = choices[close[0]] if close else None
    hint = f" Did you mean ‘{suggestion}’?" if suggestion else ""
    more = (
        " Any mode also takes a marketplace (‘amazon’…) and ‘fill=’, ‘margin=’, ‘bg=’, ‘size=’, ‘shadow’."
        if also
        else ""
    )
    return ParseError(
        f"{_quote(word)} is not {where}.{hint} Valid words: "
        + ", ".join(f"‘{v}’" for v in valid)
        + "."
        + more,
        word=word,
        valid=valid,
        suggestion=suggestion,
    )


def _conflict(word: str, what: str, earlier: str) -> ParseError:
    return ParseError(
        f"{_quote(word)} conflicts with ‘{earlier}’: choose {what} once.", word=word, valid=(earlier,)
    )


def _quote(word: str) -> str:
    """A user's word echoed back, quoted and kept short."""
    return quote(word, limit=40)
