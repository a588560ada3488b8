"""The PostgreSQL store: any number of instances on one database (`CUTOUT_DATABASE_URL`).

The queries are SQLite's (storage/queries/), their `?` placeholders turned into psycopg's `%s`. Each runs
in autocommit on a connection from a pool; recording Slack requests before their ack has a small pool of
its own, so an ack never waits behind the runner. Claims skip rows another instance is claiming
(`FOR UPDATE SKIP LOCKED`).

Time: every instance writes the database server's clock, not its own (leases are compared across
machines). The offset between the two is measured when the store opens and again at each `ping`; between
measurements the machine's clock carries it forward.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.rows import RowMaker
from psycopg_pool import AsyncConnectionPool

from storage.postgres.limits import FleetLimits
from storage.postgres.migrations import WAKE_CHANNEL, apply_migrations
from storage.queries.base import DEFAULT_LEASE_S, Clock
from storage.rows import Row
from storage.store import Store

logger = logging.getLogger(__name__)

POOL_SIZE = 10  # the runner's steps, the handlers' reads (vendor calls have connections of their own)
INTAKE_POOL_SIZE = 4
CONNECT_TIMEOUT_S = 10.0
LISTEN_RETRY_S = 5.0


class PgRow:
    """A row read by column name or by position, like SQLite's."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: dict[str, int], values: Sequence[Any]) -> None:
        self._index = index
        self._values = values

    def __getitem__(self, key: str | int) -> Any:
        return self._values[self._index[key] if isinstance(key, str) else key]

    def keys(self) -> list[str]:
        return list(self._index)


def pg_row(cursor: psycopg.AsyncCursor[Any]) -> RowMaker[PgRow]:
    index = {column.name: i for i, column in enumerate(cursor.description or ())}
    return lambda values: PgRow(index, values)


@lru_cache(maxsize=256)
def placeholders(sql: str) -> str:
    """The statement with psycopg's placeholders: `?` → `%s` (a literal `%` doubled). No statement of ours
    has a `?` inside a string."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresStore(Store):
    SKIP_LOCKED = " FOR UPDATE SKIP LOCKED"

    def __init__(
        self,
        url: str,
        pool: AsyncConnectionPool[Any],
        intake_pool: AsyncConnectionPool[Any],
        *,
        clock: Clock | None,
        owner: str | None,
        lease_s: float,
    ) -> None:
        self._offset = 0.0  # the database's clock minus this machine's
        super().__init__(clock=clock or self._database_time, owner=owner, lease_s=lease_s)
        self._url = url
        self._pool = pool
        self._intake_pool = intake_pool
        self._listener: asyncio.Task[None] | None = None
        self._limits: list[FleetLimits] = []

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        clock: Clock | None = None,
        owner: str | None = None,
        lease_s: float = DEFAULT_LEASE_S,
    ) -> PostgresStore:
        """Open the pools and migrate the database (safe when several instances start at once)."""
        kwargs = {"autocommit": True, "row_factory": pg_row}
        # Each connection is checked as it is handed out (one round trip): after the database restarts or
        # fails over, no statement is lost on a connection that died in the pool.
        check = AsyncConnectionPool.check_connection
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            url, min_size=1, max_size=POOL_SIZE, kwargs=kwargs, open=False, name="cutout", check=check
        )
        intake_pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=INTAKE_POOL_SIZE,
            kwargs=kwargs,
            open=False,
            name="cutout-intake",
            check=check,
        )
        try:
            await pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
            await intake_pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
            async with pool.connection() as conn:
                await apply_migrations(conn)
            store = cls(url, pool, intake_pool, clock=clock, owner=owner, lease_s=lease_s)
            await store._measure_clock()
        except BaseException:
            await intake_pool.close()
            await pool.close()
            raise
        return store

    @property
    def shared(self) -> bool:
        return True

    def _database_time(self) -> float:
        return time.time() + self._offset

    async def _measure_clock(self) -> None:
        before = time.time()
        rows = await self._rows("SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8")
        after = time.time()
        self._offset = float(rows[0][0]) - (before + after) / 2

    async def _rows(self, sql: str, parameters: Iterable[Any] = (), *, intake: bool = False) -> list[Row]:
        pool = self._intake_pool if intake else self._pool
        params = tuple(parameters)
        async with pool.connection() as conn:
            cursor = await conn.execute(placeholders(sql) if params else sql, params or None)
            return list(await cursor.fetchall()) if cursor.description else []

    async def _rows_one_at_a_time(self, key: str, sql: str, parameters: Iterable[Any] = ()) -> list[Row]:
        """The statement in a transaction that first takes a transaction-scoped advisory lock on `key`: the
        statement's snapshot is taken after the lock, so it sees every write made before under it."""
        params = tuple(parameters)
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (key,))
            cursor = await conn.execute(placeholders(sql) if params else sql, params or None)
            return list(await cursor.fetchall()) if cursor.description else []

    async def ping(self) -> None:
        async with self._pool.connection(timeout=2.0) as conn:  # a load balancer waits a few seconds at most
            await conn.execute("SELECT 1")
        await self._measure_clock()

    async def listen(self, wake: Callable[[], None]) -> None:
        """Call `wake` on every NOTIFY of a queued task, on a connection of its own (reconnected when lost)."""
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(wake), name="store-listen")

    async def _listen(self, wake: Callable[[], None]) -> None:
        while True:
            try:
                connect = psycopg.AsyncConnection.connect(self._url, autocommit=True, connect_timeout=10)
                async with await connect as conn:
                    await conn.execute(f"LISTEN {WAKE_CHANNEL}")
                    wake()  # work may have been queued while not listening
                    async for _ in conn.notifies():
                        wake()
            except (psycopg.Error, OSError) as error:
                logger.warning(
                    "lost the database's wake-ups (%s); polling until reconnected", type(error).__name__
                )
            await asyncio.sleep(LISTEN_RETRY_S)

    def vendor_limits(self, vendor: str, *, concurrency: int, per_second: float | None) -> FleetLimits:
        """The vendor's limits, on connections of their own (closed with the store)."""
        limits = FleetLimits(self._url, vendor, concurrency=concurrency, per_second=per_second)
        self._limits.append(limits)
        return limits

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        for limits in self._limits:
            await limits.close()
        await self._intake_pool.close()
        await self._pool.close()
