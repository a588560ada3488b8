"""A vendor's limits held by the whole fleet: at most `concurrency` calls at once and `per_second` call
starts a second, across every instance on the database (the limits are per vendor account).

At once: a call holds one of `concurrency` advisory locks (one per slot) on a connection of its own for as
long as it runs. PostgreSQL frees the lock when the call ends — or when its instance dies and the
connection drops, so a killed instance never holds a slot.

A second: one row per vendor holds the start of the next free slot in the database's clock; a caller
takes the slot with one UPDATE … RETURNING (which also says how long to wait for it), so two instances
never get the same slot and the calls stay evenly spaced.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg_pool import AsyncConnectionPool

MARGIN = 1.05  # as in-process: space calls 5% wider than the limit
SLOT_POLL_S = (0.05, 0.15)  # how long to wait before trying the slots again when all are taken

_TAKE_SLOT = "SELECT pg_try_advisory_lock(hashtext(%s), %s)"
_FREE_SLOT = "SELECT pg_advisory_unlock(hashtext(%s), %s)"
_NEXT_START = """
    WITH now AS (SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8 AS t)
    UPDATE vendor_rate SET next_at = GREATEST(next_at, (SELECT t FROM now)) + %s
    WHERE vendor = %s
    RETURNING next_at - %s - (SELECT t FROM now)
"""


class FleetLimits:
    """`call()` for one vendor, held across the fleet (see the module's text)."""

    def __init__(
        self, pool: AsyncConnectionPool[Any], vendor: str, *, concurrency: int, per_second: float | None
    ) -> None:
        self._pool = pool
        self._key = f"cutout-vendor:{vendor}"
        self._vendor = vendor
        self._concurrency = max(1, concurrency)
        self._interval = MARGIN / per_second if per_second else None
        self._rate_row_made = False

    @asynccontextmanager
    async def call(self) -> AsyncIterator[None]:
        """Hold a slot (waiting for one), wait for the next free start, and run the call inside."""
        conn, slot = await self._take_slot()
        try:
            if self._interval is not None:
                await asyncio.sleep(await self._wait_for_start(conn))
            yield
        finally:
            try:
                await conn.execute(_FREE_SLOT, (self._key, slot))
            finally:
                await self._pool.putconn(conn)  # a broken connection is discarded: its lock went with it

    async def _take_slot(self) -> tuple[Any, int]:
        """A pooled connection holding one of the slots' locks. While every slot is taken the connection goes
        back to the pool between tries, so waiting callers do not starve the instance's other statements."""
        while True:
            conn = await self._pool.getconn()
            try:
                first = random.randrange(self._concurrency)  # spread instances over the slots
                for n in range(self._concurrency):
                    slot = (first + n) % self._concurrency
                    cursor = await conn.execute(_TAKE_SLOT, (self._key, slot))
                    row = await cursor.fetchone()
                    if row is not None and row[0]:
                        return conn, slot
            except BaseException:
                await self._pool.putconn(conn)
                raise
            await self._pool.putconn(conn)
            await asyncio.sleep(random.uniform(*SLOT_POLL_S))

    async def _wait_for_start(self, conn: Any) -> float:
        """Seconds until the start slot just reserved for this call."""
        if not self._rate_row_made:
            await conn.execute(
                "INSERT INTO vendor_rate (vendor, next_at) VALUES (%s, 0) ON CONFLICT DO NOTHING",
                (self._vendor,),
            )
            self._rate_row_made = True
        cursor = await conn.execute(_NEXT_START, (self._interval, self._vendor, self._interval))
        row = await cursor.fetchone()
        return max(0.0, float(row[0])) if row is not None else 0.0
