"""Limits on images sent to paid vendors, and what was sent: a limit is a number of images a day or a
month (UTC) for a channel, the workspace or one person; past it an image is not sent. Usage is counted per
task that reached a paid vendor (a task counts once, however often it is resumed)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "WORKSPACE",
    "LimitRefusal",
    "LimitScope",
    "Period",
    "UsageLimit",
    "UsageReport",
    "next_reset",
    "period_start",
    "when_text",
]

WORKSPACE = "*"  # the target of the workspace's limit


class LimitScope(StrEnum):
    CHANNEL = "channel"
    WORKSPACE = "workspace"
    USER = "user"


class Period(StrEnum):
    DAY = "day"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class UsageLimit:
    scope: LimitScope
    target: str  # a channel id, a user id, or WORKSPACE
    period: Period
    max_images: int

    def describe(self) -> str:
        """Plain text: "this channel's limit of 100 images a day"."""
        whose = {
            LimitScope.CHANNEL: "the channel's",
            LimitScope.WORKSPACE: "the workspace's",
            LimitScope.USER: "your",
        }[self.scope]
        return f"{whose} limit of {self.max_images} image{'s' if self.max_images != 1 else ''} a {self.period.value}"


@dataclass(frozen=True, slots=True)
class LimitRefusal:
    """Why an image was not sent: the limit reached, and when it resets (Unix time)."""

    limit: UsageLimit
    resets_at: float


@dataclass(frozen=True, slots=True)
class UsageReport:
    """Images sent to paid vendors since a time, counted by engine, channel and person, and those the local
    engine cut (free)."""

    since: float
    by_engine: dict[str, int]
    by_channel: dict[str, int]
    by_user: dict[str, int]
    local: int


def period_start(period: Period, now: float) -> float:
    """The start (Unix time) of the UTC day or month `now` is in."""
    moment = datetime.datetime.fromtimestamp(now, datetime.UTC)
    start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if period is Period.MONTH:
        start = start.replace(day=1)
    return start.timestamp()


def next_reset(period: Period, now: float) -> float:
    """When the UTC day or month `now` is in ends (Unix time)."""
    start = datetime.datetime.fromtimestamp(period_start(period, now), datetime.UTC)
    if period is Period.DAY:
        return (start + datetime.timedelta(days=1)).timestamp()
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return start.replace(year=year, month=month).timestamp()


def when_text(at: float, now: float) -> str:
    """Plain text for a reset time: "at 00:00 UTC on 7 December (in 3 h 20 min)"."""
    moment = datetime.datetime.fromtimestamp(at, datetime.UTC)
    left = max(0, round((at - now) / 60))
    hours, minutes = divmod(left, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days} d"] * bool(days) + [f"{hours} h"] * bool(hours) + [f"{minutes} min"] * (not days)
    return f"at {moment:%H:%M} UTC on {moment.day} {moment:%B} (in {' '.join(parts) or 'a moment'})"
