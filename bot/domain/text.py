"""Text crossing the Slack boundary: the one place that escapes and un-escapes it.

Messages for people (failure reasons, parse errors) are plain text everywhere below the Slack door: in the
database, in exceptions, on the CLI's terminal. A literal word or name in them (a file name, a spec word,
a host) is marked with `quote` as ‘name’, which reads well as plain text; `mrkdwn` turns such a message
into Slack mrkdwn at the door, escaping it and showing each quoted name as inline code.

Out: anything people chose (file names, URL names, titles, spec words, vendor messages, class names) is
escaped before it goes into mrkdwn (`mrkdwn`, `code` or `escape`), so `<!channel>`, `<@U…>` or
`<https://x|click>` in a file name shows as typed and pings nobody. Slack asks for exactly three
characters to be escaped: `&`, `<`, `>` (https://docs.slack.dev/messaging/formatting-message-text).

In: Slack sends command and message text with `&`, `<`, `>` escaped and with links wrapped as
`<https://…|label>`; `from_slack` gives back what the person typed, with each link as its bare URL.
Mentions and other `<…>` control sequences are left as they are: the grammar reads a leading mention.
"""

from __future__ import annotations

import re

__all__ = ["code", "escape", "from_slack", "mrkdwn", "quote", "unquoted"]

_LINK = re.compile(r"<((?:https?|mailto):[^<>|\s]*)(?:\|[^<>]*)?>", re.IGNORECASE)
CODE_LIMIT = 80  # a name echoed by `quote` or `code` longer than this is cut, with an ellipsis
OPEN, CLOSE = "\u2018", "\u2019"  # ‘ and ’: only `quote` writes them into a message
_QUOTED = re.compile(f"{OPEN}([^{OPEN}{CLOSE}]*){CLOSE}")


def escape(text: str) -> str:
    """`text` made safe to put in mrkdwn: it shows as written and is never read as markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unquoted(text: str) -> str:
    """`text` with the quote marks `quote` uses turned into a plain ', so it cannot open or close a quote."""
    return text.replace(OPEN, "'").replace(CLOSE, "'")


def quote(text: str, *, limit: int = CODE_LIMIT) -> str:
    """A literal word or name for a plain-text message: ‘name’, cut at `limit` characters."""
    short = text if len(text) <= limit else text[: limit - 1] + "…"
    return OPEN + unquoted(short) + CLOSE


def mrkdwn(plain: str) -> str:
    """A plain-text message as Slack mrkdwn: escaped, each ‘quoted’ name shown as inline code."""
    return _QUOTED.sub(lambda match: "`" + match.group(1).replace("`", "'") + "`", escape(plain))


def code(text: str, *, limit: int = CODE_LIMIT) -> str:
    """`text` as inline code (`name`) in mrkdwn: escaped, a backtick inside it shown as ', cut at `limit`."""
    return mrkdwn(quote(text, limit=limit))


def from_slack(text: str) -> str:
    """What the person typed, from the text Slack sent: links unwrapped to their URL, `&amp;`, `&lt;` and
    `&gt;` turned back. Apply once, at the edge, before parsing."""
    unwrapped = _LINK.sub(lambda match: match.group(1), text)
    return unwrapped.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
