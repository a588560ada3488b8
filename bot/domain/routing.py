"""Routing between engines: which vendor answers send a task on to the next engine of its route, what the
reply says about it, and the gate a vendor's circuit breaker puts before each call.

    routed (the next engine cuts; the vendor is left out for CUTOUT_BREAKER_S)
        no credits, a rejected or disabled key, the service not opened      NO_CREDITS, KEY_REJECTED,
                                                                            ACCOUNT_PROBLEM
    never routed
        rate limits (retried at the same vendor, with backoff)              RATE_LIMITED
        content refused, nothing to cut out, bad input                      CONTENT_REFUSED, NO_SUBJECT, …
        a timeout (the vendor may have charged for it)                      TIMEOUT
        a PicWish job that has an id (it is polled)
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.failures import ErrorKind

__all__ = ["ROUTED", "Gate", "left_out_reason"]

ROUTED = frozenset({ErrorKind.NO_CREDITS, ErrorKind.KEY_REJECTED, ErrorKind.ACCOUNT_PROBLEM})

_WHY = {
    ErrorKind.NO_CREDITS: "{vendor} has no credits left",
    ErrorKind.KEY_REJECTED: "{vendor} rejected its API key",
    ErrorKind.ACCOUNT_PROBLEM: "{vendor} refused the account (locked, or the service not opened)",
}


def left_out_reason(vendor: str, kind: ErrorKind) -> str:
    """Why a vendor is left out, in plain words: "AILabTools has no credits left"."""
    return _WHY[kind].format(vendor=vendor)


@dataclass(frozen=True, slots=True)
class Gate:
    """Whether a task may call a vendor now: `open` (left out, with the reason) or allowed — maybe as the
    probe of a vendor whose time out has run out (its success closes the breaker)."""

    open: bool
    reason: str = ""
    probe: bool = False
