"""Text crossing the Slack boundary: the one place that escapes and un-escapes it.

Out: anything people chose (file names, URL names, titles, spec words, vendor messages, class names) is
passed through `escape` (or `code`) before it goes into mrkdwn, so `<!channel>`, `<@U…>` or
`<https://x|click>` in a file name shows as typed and pings nobody. Slack asks for exactly three
characters to be escaped: `&`, `<`, `>` (https://docs.slack.dev/messaging/formatting-message-text).

In: Slack sends command and message text with `&`, `<`, `>` escaped and with links wrapped as
`<https://…|label>`; `from_slack` gives back what the person typed, with each link as its bare URL.
Mentions and other `<…>` control sequences are left as they are: the grammar reads a leading mention.
"""

from __future__ import annotations

import re

__all__ = ["code", "escape", "from_slack"]

_LINK = re.compile(r"<((?:https?|mailto):[^<>|\s]*)(?:\|[^<>]*)?>", re.IGNORECASE)
CODE_LIMIT = 80  # a name echoed in `code` longer than this is cut, with an ellipsis


def escape(text: str) -> str:
    """`text` made safe to put in mrkdwn: it shows as written and is never read as markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: str, *, limit: int = CODE_LIMIT) -> str:
    """`text` as inline code (`name`): escaped, a backtick inside it shown as ', cut at `limit` characters."""
    short = text if len(text) <= limit else text[: limit - 1] + "…"
    return "`" + escape(short.replace("`", "'")) + "`"


def from_slack(text: str) -> str:
    """What the person typed, from the text Slack sent: links unwrapped to their URL, `&amp;`, `&lt;` and
    `&gt;` turned back. Apply once, at the edge, before parsing."""
    unwrapped = _LINK.sub(lambda match: match.group(1), text)
    return unwrapped.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
