"""Faults a fake vendor can be told to answer with, in order, before it answers normally.

"500", "503"        that HTTP status, with a body that is not the vendor's JSON
"429"               HTTP 429 with `Retry-After: 1`
"timeout"           no answer for longer than the bot's vendor timeout
"drop"              the connection closed without an answer
"malformed"         HTTP 200 with a body that is not JSON
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from aiohttp import web

FAULTS = ("500", "503", "429", "timeout", "drop", "malformed")
TIMEOUT_HOLD_S = 3.0


@dataclass
class Faults:
    script: list[str] = field(default_factory=list)
    injected: list[tuple[str, float]] = field(default_factory=list)  # (fault, when)
    answered_at: list[float] = field(default_factory=list)  # when each real answer was given

    def add(self, *faults: str) -> None:
        for fault in faults:
            assert fault in FAULTS, fault
        self.script.extend(faults)

    async def apply(self, request: web.Request) -> web.StreamResponse | None:
        """The fault response for this request, or None to answer normally."""
        if not self.script:
            self.answered_at.append(time.monotonic())
            return None
        fault = self.script.pop(0)
        self.injected.append((fault, time.monotonic()))
        if fault in ("500", "503"):
            return web.Response(
                status=int(fault), text=f"<html><body>{fault} Service Unavailable</body></html>"
            )
        if fault == "429":
            return web.json_response(
                {"status": 429, "message": "Too Many Requests"}, status=429, headers={"Retry-After": "1"}
            )
        if fault == "timeout":
            await asyncio.sleep(TIMEOUT_HOLD_S)
            return web.Response(status=504, text="too late")
        if fault == "drop":
            assert request.transport is not None
            request.transport.close()  # the client sees the server disconnect without an answer
            return web.Response(text="never sent")
        return web.Response(
            status=200, body=b'{"status": 200, "data": {"oops"', content_type="application/json"
        )


class Hold:
    """Makes requests wait at a point until released; counts how many are waiting."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.armed = False
        self.waiting = 0

    def arm(self) -> None:
        self.armed = True
        self._event.clear()

    def release(self) -> None:
        self.armed = False
        self._event.set()

    async def wait(self) -> None:
        if not self.armed:
            return
        self.waiting += 1
        try:
            await self._event.wait()
        finally:
            self.waiting -= 1
