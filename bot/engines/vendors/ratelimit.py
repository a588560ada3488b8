"""A vendor's limits: at most so many calls at once and so many call starts a second (PicWish allows 2
requests a second). Every request to a vendor's API goes through its `CallLimits.call()`. `LocalLimits`
holds them in this process (one instance, SQLite); a store shared by a fleet provides limits that hold
across every instance (storage/postgres/limits.py), since the vendor counts per account."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol


class CallLimits(Protocol):
    def call(self) -> AbstractAsyncContextManager[None]:
        """Wait until one more call may start within the limits; the call runs inside."""
        ...


MARGIN = 1.05  # space requests 5% wider than the limit: jitter on the way must not put three in one second


class RateLimiter:
    """At most `per_second` request starts a second, evenly spaced (with a small margin)."""

    def __init__(
        self,
        per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._interval = MARGIN / per_second
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            wait = self._next - self._clock()
            if wait > 0:
                await self._sleep(wait)
            self._next = max(self._clock(), self._next) + self._interval


class LocalLimits:
    """`concurrency` calls at once and `per_second` starts a second, in this process."""

    def __init__(self, *, concurrency: int | None, per_second: float | None) -> None:
        self._slots = asyncio.Semaphore(concurrency) if concurrency else None
        self._rate = RateLimiter(per_second) if per_second else None

    @contextlib.asynccontextmanager
    async def call(self) -> AsyncIterator[None]:
        async with self._slots or contextlib.nullcontext():
            if self._rate is not None:
                await self._rate.acquire()
            yield
