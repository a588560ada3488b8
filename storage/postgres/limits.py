"""A vendor's limits held by the whole fleet: at most `concurrency` calls at once and `per_second` call
starts a second, across every instance on the database (the limits are per vendor account).

At once: a call holds one of `concurrency` advisory locks (one per slot) on a connection of its own for as
long as it runs, from a small pool the vendor's limits keep apart from the store's (at most `concurrency`
connections, since the fleet never holds more slots than that; opened as calls need them, closed after a
minute unused): vendor calls never take the connections the store's statements need, nor does the
store's pool size cap the calls. PostgreSQL frees the lock when the call ends — or when its instance dies
and the connection drops, so a killed instance never holds a slot. A connection goes back to its pool only after
`pg_advisory_unlock_all()`, run where no cancellation reaches it (or closed when that fails): a call
cancelled while its lock changes hands — taken on the server but not yet seen, or not yet freed — leaves
no lock behind on a pooled connection.

A second: one row per vendor holds the start of the next free slot in the database's clock; a caller
takes the slot with one UPDATE … RETURNING (which also says how long to wait for it), so two instances
never get the same slot and the calls stay evenly spaced.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg_pool import AsyncConnectionPool

logger = logging.getLogger(__name__)

MARGIN = 1.05  # as in-process: space calls 5% wider than the limit
SLOT_POLL_S = (0.05, 0.15)  # how long to wait before trying the slots again when all are taken
IDLE_S = 60.0  # a slot connection unused this long is closed

_TAKE_SLOT = "SELECT pg_try_advisory_lock(hashtext(%s), %s)"
_FREE_SLOTS = "SELECT pg_advisory_unlock_all()"
_NEXT_START = """
    WITH now AS (SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8 AS t)
    UPDATE vendor_rate SET next_at = GREATEST(next_at, (SELECT t FROM now)) + %s
    WHERE vendor = %s
    RETURNING next_at - %s - (SELECT t FROM now)
"""


class FleetLimits:
    """`call()` for one vendor, held across the fleet (see the module's text)."""

    def __init__(self, url: str, vendor: str, *, concurrency: int, per_second: float | None) -> None:
        self._key = f"cutout-vendor:{vendor}"
        self._vendor = vendor
        self._concurrency = max(1, concurrency)
        self._interval = MARGIN / per_second if per_second else None
        self._rate_row_made = False
        self._pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            url,
            min_size=0,
            max_size=self._concurrency,
            kwargs={"autocommit": True},
            open=False,
            name=f"cutout-{vendor}",
            check=AsyncConnectionPool.check_connection,  # a connection that died in the pool is replaced
            max_idle=IDLE_S,
        )
        self._closed = False

    async def close(self) -> None:
        """Close the pool: a call still holding a slot frees it as its connection closes."""
        self._closed = True
        await self._pool.close()

    @asynccontextmanager
    async def call(self) -> AsyncIterator[None]:
        """Hold a slot (waiting for one), wait for the next free start, and run the call inside."""
        if self._closed:
            raise RuntimeError(f"the {self._vendor} limits are closed")
        await self._pool.open()  # at the first call; nothing once open
        conn = await self._take_slot()
        try:
            if self._interval is not None:
                await asyncio.sleep(await self._wait_for_start(conn))
            yield
        finally:
            await self._give_back(conn)

    async def _take_slot(self) -> Any:
        """A pooled connection holding one of the slots' locks. While every slot is taken the connection goes
        back to the pool between tries, so that the calls waiting in this instance share it."""
        while True:
            conn = await self._pool.getconn()
            try:
                first = random.randrange(self._concurrency)  # spread instances over the slots
                for n in range(self._concurrency):
                    cursor = await conn.execute(_TAKE_SLOT, (self._key, (first + n) % self._concurrency))
                    row = await cursor.fetchone()
                    if row is not None and row[0]:
                        return conn
            except BaseException:  # a lock may have been taken whose answer never came: free it
                await self._give_back(conn)
                raise
            await self._pool.putconn(conn)  # no lock taken
            await asyncio.sleep(random.uniform(*SLOT_POLL_S))

    async def _give_back(self, conn: Any) -> None:
        """Free the connection's locks and return it to the pool, shielded: a cancellation of the caller
        ends its wait, never the unlock."""
        await asyncio.shield(self._unlock_and_return(conn))

    async def _unlock_and_return(self, conn: Any) -> None:
        try:
            await conn.execute(_FREE_SLOTS)
        except Exception as error:  # closing the connection frees its locks as surely
            logger.warning("could not free a %s slot (%s); closing its connection", self._vendor, error)
            await conn.close()
        finally:
            await self._pool.putconn(conn)  # a closed connection is discarded

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
