"""Why a task can fail, as one exception tree. User-facing text comes from these fields only.

TaskFailure                      code + text for the user; never str() of an arbitrary exception
 ├── VendorError                 vendor, code, message, kind (bot.vendors.errors)
 │    ├── VendorRejected         4xx or a fixed vendor code: never retried
 │    ├── VendorUnavailable      connection error, 429, 5xx: retried, honouring retry_after
 │    └── VendorTimeout          no answer in time: retried
 ├── VendorNotConfigured         the mode's vendor has no key (names the variable to set)
 ├── ImageError                  the image cannot be made acceptable (bot.imaging)
 └── SourceError                 the image could not be fetched (Slack file, URL)
"""

from __future__ import annotations


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
