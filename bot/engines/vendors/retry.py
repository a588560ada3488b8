"""Retries with exponential backoff and jitter, for the errors worth retrying and nothing else."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from bot.domain.failures import VendorTimeout, VendorUnavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`attempts` calls at most; waits grow 1, 2, 4… × `base_delay_s` (with jitter), capped."""

    attempts: int = 4
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_delay_s) + random.uniform(0, self.base_delay_s / 2)
        ceiling = min(self.base_delay_s * 2 ** (attempt - 1), self.max_delay_s)
        return random.uniform(ceiling / 2, ceiling)


async def call_with_retries(
    operation: Callable[[], Awaitable[T]], policy: RetryPolicy, *, what: str, sleep: Sleep = asyncio.sleep
) -> T:
    """Run `operation`, retrying VendorUnavailable and VendorTimeout up to the policy's attempts."""
    for attempt in range(1, policy.attempts + 1):
        try:
            return await operation()
        except (VendorUnavailable, VendorTimeout) as error:
            if attempt >= policy.attempts:
                raise
            wait = policy.delay(attempt, getattr(error, "retry_after", None))
            logger.warning(
                "%s: %s %s (attempt %d of %d); retrying in %.1f s",
                what,
                error.vendor,
                error.code,
                attempt,
                policy.attempts,
                wait,
            )
            await sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
