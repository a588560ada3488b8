"""What the store hands to the rest of the code: dataclasses, never rows."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.domain.grammar import Spec

URL_FILE_ID = "url"
LOCAL_FILE_ID = "local"  # a file on this machine (the command-line tool): `url` is its path


class TaskState(StrEnum):
    """A task's life: queued → running → (polling) → downloading → posting → done | failed | cancelled,
    or `undelivered`: Slack kept refusing the finished result, whose files are kept until the owner's
    *Try again* posts them (no new vendor call) or retention removes them."""

    QUEUED = "queued"
    RUNNING = "running"
    POLLING = "polling"
    DOWNLOADING = "downloading"
    POSTING = "posting"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNDELIVERED = "undelivered"

    @property
    def final(self) -> bool:
        """Nothing more happens to the task unless someone asks (undelivered: *Try again*)."""
        return self in (TaskState.DONE, TaskState.FAILED, TaskState.CANCELLED, TaskState.UNDELIVERED)

    @property
    def keeps_files(self) -> bool:
        """Whether the task's work folder must be kept (a paid result waiting to be posted)."""
        return not self.final or self is TaskState.UNDELIVERED


UNFINISHED_STATES = tuple(state for state in TaskState if not state.final)


class TaskSource(StrEnum):
    """How the image met its spec (DESIGN §3)."""

    UPLOAD = "upload"  # rule 1: spec typed with the upload
    RERUN = "rerun"  # rule 2: /cutout on the user's recent image
    ARMED = "armed"  # rule 3: spec armed by /cutout before the upload
    DEFAULT = "default"  # rule 4: channel or workspace default
    URL = "url"  # rule 5: /cutout <spec> <https URL>
    THREAD = "thread"  # rule 6: a spec typed as a reply in the image's thread
    SHORTCUT = "shortcut"  # rule 7: the "Cut out image" message shortcut
    CLI = "cli"  # the command-line tool


@dataclass(frozen=True, slots=True)
class SourceFile:
    """The image a task works on: a Slack file (its id and `url_private_download`) or a web URL."""

    file_id: str  # Slack's file id, or URL_FILE_ID for an image given by URL
    name: str
    mimetype: str  # as Slack declared it; "" for a URL
    url: str
    size: int | None = None
    external: str | None = None  # a file Slack only links to: where it lives (Slack's `external_type`)

    @property
    def is_url(self) -> bool:
        return self.file_id == URL_FILE_ID

    @property
    def is_local(self) -> bool:
        return self.file_id == LOCAL_FILE_ID


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """An image posted in a channel, kept so `/cutout` can find it again without history calls."""

    channel_id: str
    message_ts: str
    thread_ts: str  # where replies about this image go
    user_id: str
    file: SourceFile
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class NewTask:
    team_id: str | None
    channel_id: str
    user_id: str
    message_ts: str
    thread_ts: str
    file: SourceFile
    spec: Spec
    source: TaskSource
    dedupe_key: str | None = None


@dataclass(frozen=True, slots=True)
class ResultFile:
    """A finished file on disk, waiting to be (or already) posted."""

    path: str
    name: str
    title: str


@dataclass(frozen=True, slots=True)
class StoredPart:
    """One part of what the vendor returned, kept so a restart need not call the vendor again."""

    role: str
    url: str | None = None  # to fetch (vendor result URLs live 1–24 hours)
    path: str | None = None  # already on disk (results the vendor sent inline)
    note: str | None = None  # what the engine said about this result


@dataclass(frozen=True, slots=True)
class Task:
    id: int
    team_id: str | None
    channel_id: str
    user_id: str
    message_ts: str
    thread_ts: str
    file: SourceFile
    spec: Spec
    source: TaskSource
    state: TaskState
    vendor: str | None
    attempts: int
    vendor_task_id: str | None
    error_code: str | None
    error_message: str | None
    result_files: tuple[ResultFile, ...]
    vendor_parts: tuple[StoredPart, ...]
    summary: str | None
    created_at: float
    updated_at: float
    started_at: float | None
    finished_at: float | None
    notified_at: float | None
    progress_ts: str | None = None
    cancel_requested: bool = False
    owner: str | None = None  # the instance working on it (or last to)
    lease_until: float | None = None  # when another instance may take it over, unless renewed
    claim: int = 0  # which claim of the task this is: only its holder's writes are made (LeaseLost)


class LeaseLost(Exception):
    """This claim of the task is no longer valid (its lease ran out and the task was claimed again, by
    another instance or by this one): the write was not made, and the work under that claim must stop."""

    def __init__(self, task_id: int) -> None:
        super().__init__(f"task {task_id} is no longer ours")
        self.task_id = task_id


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """A Slack request that may queue work, recorded before Slack got its acknowledgement."""

    id: int
    body: dict[str, Any]  # as Bolt parsed it, without Slack's legacy `token` field
    attempts: int  # how many times a start-up replayed it


@dataclass(frozen=True, slots=True)
class Usage:
    """How many tasks ran, by mode and by engine, since a time."""

    by_mode: dict[str, int]
    by_vendor: dict[str, int]


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    channel_id: str
    default_spec: Spec | None = None  # None: the workspace default (CUTOUT_DEFAULT_SPEC)
    auto: bool = True
