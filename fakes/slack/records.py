"""What the fake workspace holds: its ids, the files it hosts, and the records tests read back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TEAM_ID = "T0TEST"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
APP_ID = "A0CUTOUT"


@dataclass
class HostedFile:
    file_id: str
    name: str
    mimetype: str
    data: bytes
    content_type: str = ""  # what the download answers with; defaults to the mimetype
    shares: list[tuple[str, str, str | None]] = field(default_factory=list)  # (channel, ts, thread_ts)
    external_type: str | None = None  # a remote file: "gdrive", "dropbox"… (served by the remote origin)
    trickle_s: float | None = None  # served a byte every this many seconds

    def object(self, base: str, remote_base: str = "") -> dict[str, Any]:
        described = {
            "id": self.file_id,
            "name": self.name,
            "title": self.name,
            "mimetype": self.mimetype,
            "filetype": self.name.rsplit(".", 1)[-1],
        }
        if self.external_type:  # Slack only links to it: no size, a URL on the service's own host
            url = f"{remote_base}/remote/{self.file_id}/{self.name}"
            return {
                **described,
                "mode": "external",
                "is_external": True,
                "external_type": self.external_type,
                "url_private": url,
                "url_private_download": url,
            }
        url = f"{base}/files-pri/{TEAM_ID}-{self.file_id}/{self.name}"
        return {
            **described,
            "size": len(self.data),
            "mode": "hosted",
            "url_private": url,
            "url_private_download": url + "?download=1",
        }


@dataclass
class Upload:
    file_id: str
    filename: str
    length: int
    data: bytes | None = None


@dataclass
class FileMessage:
    """What `files.completeUploadExternal` shared: one message with its files."""

    channel: str
    thread_ts: str | None
    initial_comment: str  # the comment, or the text of the message's blocks
    files: list[Upload]
    ts: str = ""
    blocks: list[dict[str, Any]] | None = None


@dataclass
class Posted:
    channel: str
    text: str
    thread_ts: str | None
    user: str | None = None  # for ephemeral messages
    ts: str = ""
    blocks: list[dict[str, Any]] | None = None


@dataclass
class Message:
    """A message in a channel as Slack keeps it, for the history and thread methods."""

    channel: str
    ts: str
    user: str
    text: str
    thread_ts: str | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    bot_id: str | None = None
    blocks: list[dict[str, Any]] | None = None

    def as_slack(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": "message", "ts": self.ts, "user": self.user, "text": self.text}
        if self.thread_ts:
            body["thread_ts"] = self.thread_ts
        if self.files:
            body["files"] = self.files
        if self.bot_id:
            body["bot_id"] = self.bot_id
        if self.blocks:
            body["blocks"] = self.blocks
        return body


@dataclass
class Call:
    method: str
    params: dict[str, Any]
