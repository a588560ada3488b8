"""Read a multipart/form-data body in tests (the standard library's email parser does the work)."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode()


def parse_multipart(content_type: str, body: bytes) -> dict[str, Part]:
    message = email.message_from_bytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body, policy=email.policy.HTTP
    )
    assert message.is_multipart(), "not a multipart body"
    parts: dict[str, Part] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        assert isinstance(name, str)
        assert name not in parts, f"part {name} sent twice"
        parts[name] = Part(
            name, part.get_filename(), part.get_content_type(), part.get_payload(decode=True) or b""
        )
    return parts
