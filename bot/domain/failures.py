"""Why a task can fail, as one exception tree. User-facing text comes from these fields only.

TaskFailure                      code + text for the user; never str() of an arbitrary exception
 ├── VendorError                 vendor, code, message, kind (below)
 │    ├── VendorRejected         4xx or a fixed vendor code: never retried
 │    ├── VendorUnavailable      connection error, 429, 5xx: retried, honouring retry_after
 │    └── VendorTimeout          no answer in time: retried
 ├── VendorNotConfigured         the mode's vendor has no key (names the variable to set)
 ├── ImageError                  the image cannot be made acceptable (bot.imaging.decode)
 └── SourceError                 the image could not be fetched (Slack file, URL)
"""

from __future__ import annotations

from enum import StrEnum

from bot.domain.text import quote, unquoted


class TaskFailure(Exception):
    """A reason a task failed that can be told to the user as it is."""

    def __init__(self, *, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def user_text(self) -> str:
        """What the user reads in the thread: what happened and what to do."""
        return self.message


class VendorNotConfigured(TaskFailure):
    def __init__(self, message: str) -> None:
        super().__init__(code="VENDOR_NOT_CONFIGURED", message=message)


class SourceError(TaskFailure):
    """The source image could not be fetched (or was not an image)."""


# --- vendor errors --------------------------------------------------------------------------------
# Vendor errors and their plain-words explanation.
#
#     VendorError(TaskFailure)   vendor, code, message (the vendor's own), kind, http_status
#      ├── VendorRejected        4xx or a fixed vendor code: never retried, shown to the user
#      ├── VendorUnavailable     connection error, 429, 5xx: retried, with retry_after
#      └── VendorTimeout         the vendor did not answer in time: retried
#
# Each vendor module maps its own codes to an ErrorKind; `user_text()` turns the kind into what
# happened and what to do, and always names the vendor's own code. No secret ever reaches these fields:
# they are built from the vendor's response body, which holds none of ours.


class ErrorKind(StrEnum):
    KEY_REJECTED = "key_rejected"
    ACCOUNT_PROBLEM = "account_problem"
    NO_CREDITS = "no_credits"
    RATE_LIMITED = "rate_limited"
    IMAGE_TOO_LARGE = "image_too_large"
    IMAGE_TOO_SMALL = "image_too_small"
    UNSUPPORTED_IMAGE = "unsupported_image"
    CONTENT_REFUSED = "content_refused"
    NO_SUBJECT = "no_subject"
    INVALID_INPUT = "invalid_input"
    BAD_REQUEST = "bad_request"
    VENDOR_DOWN = "vendor_down"
    TIMEOUT = "timeout"
    RESULT_MISSING = "result_missing"
    RESULT_REFUSED = "result_refused"
    UNKNOWN = "unknown"


_WHAT_TO_DO: dict[ErrorKind, str] = {
    ErrorKind.KEY_REJECTED: "{vendor} rejected the API key. Ask whoever runs this bot to check {key_var}.",
    ErrorKind.ACCOUNT_PROBLEM: "{vendor} refused the account behind the API key (locked or the API not enabled). "
    "Ask whoever runs this bot to check the {vendor} console.",
    ErrorKind.NO_CREDITS: "The {vendor} account has no credits left. Top it up, then run the command again.",
    ErrorKind.RATE_LIMITED: "{vendor} is rate-limiting us; the bot waited and retried, and it still was. "
    "Wait a minute and run it again.",
    ErrorKind.IMAGE_TOO_LARGE: "{vendor} says the image is too large. Try a smaller image.",
    ErrorKind.IMAGE_TOO_SMALL: "{vendor} says the image is too small. Try a larger image.",
    ErrorKind.UNSUPPORTED_IMAGE: "{vendor} could not read the image. Try it as a JPEG or PNG.",
    ErrorKind.CONTENT_REFUSED: "{vendor} refused the image's content. Try another image.",
    ErrorKind.NO_SUBJECT: "{vendor} found nothing to cut out in the image. Try a clearer shot or another mode.",
    ErrorKind.INVALID_INPUT: "{vendor} did not accept the input (its message below names what). "
    "Check the image or its URL and try again.",
    ErrorKind.BAD_REQUEST: "{vendor} did not accept the request. This is a bug on our side; "
    "please tell whoever runs this bot.",
    ErrorKind.VENDOR_DOWN: "{vendor} is having trouble right now and still was after several tries. "
    "Try again in a few minutes.",
    ErrorKind.TIMEOUT: "{vendor} did not answer in time, even after several tries. Try again in a few minutes.",
    ErrorKind.RESULT_MISSING: "{vendor} said it was done but its result could not be fetched. Run it again.",
    ErrorKind.RESULT_REFUSED: "{vendor} sent a result the bot does not accept (below). Run it again; "
    "if it keeps happening, tell whoever runs this bot.",
    ErrorKind.UNKNOWN: "{vendor} returned an error we do not know. Run it again; if it keeps failing, "
    "tell whoever runs this bot.",
}


class VendorError(TaskFailure):
    def __init__(
        self,
        *,
        vendor: str,
        code: str,
        message: str = "",
        kind: ErrorKind = ErrorKind.UNKNOWN,
        http_status: int | None = None,
        key_var: str = "the API key",
    ) -> None:
        super().__init__(code=code, message=message)
        self.vendor = vendor
        self.kind = kind
        self.http_status = http_status
        self.key_var = key_var
        self.detail = ""  # facts we add, such as the sizes we sent

    def user_text(self) -> str:
        advice = _WHAT_TO_DO[self.kind].format(vendor=self.vendor, key_var=self.key_var)
        said = f" — “{_short(self.message)}”" if self.message else ""
        detail = f" {self.detail}" if self.detail else ""
        return f"{advice}{detail} ({self.vendor} code {quote(self.code)}{said})"


class VendorRejected(VendorError):
    """4xx or a vendor code that will not change on retry."""


class VendorUnavailable(VendorError):
    """Connection error, 429 or 5xx: worth another try, after `retry_after` seconds if the vendor said."""

    def __init__(self, *, retry_after: float | None = None, **fields: object) -> None:
        super().__init__(**fields)  # type: ignore[arg-type]
        self.retry_after = retry_after


class VendorTimeout(VendorError):
    """The vendor did not answer within the timeout."""

    def __init__(self, *, vendor: str, message: str = "no answer in time", **fields: object) -> None:
        super().__init__(vendor=vendor, code="TIMEOUT", message=message, kind=ErrorKind.TIMEOUT, **fields)  # type: ignore[arg-type]


def kind_of_status(status: int) -> tuple[ErrorKind, bool]:
    """What an HTTP status alone says, for a code a vendor module does not know: (kind, worth retrying)."""
    if status == 429:
        return ErrorKind.RATE_LIMITED, True
    if status >= 500:
        return ErrorKind.VENDOR_DOWN, True
    return ErrorKind.UNKNOWN, False


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return unquoted(text if len(text) <= limit else text[: limit - 1] + "…")
