"""Vendors left out of the routes for a while (a circuit breaker per vendor, in the database so that on
PostgreSQL it holds for the whole fleet): a vendor that said "no credits" or "bad key" is open until a time;
after it, one task at a time may probe it; a probe that succeeds closes it."""

from __future__ import annotations

from bot.domain.routing import Gate
from storage.queries.base import Database

PROBE_S = 300.0  # a probe that never reported (its instance died) lets another task probe after this


class BreakerQueries(Database):
    async def breaker_gate(self, vendor: str) -> Gate:
        """May a task call `vendor` now? One read when the vendor has no breaker (the usual case)."""
        rows = await self._rows("SELECT open_until, reason FROM vendor_breakers WHERE vendor = ?", (vendor,))
        if not rows:
            return Gate(open=False)
        now = self._clock()
        if rows[0]["open_until"] > now:
            return Gate(open=True, reason=rows[0]["reason"])
        taken = await self._rows(
            """
            UPDATE vendor_breakers SET probe_until = ?
            WHERE vendor = ? AND open_until <= ? AND (probe_until IS NULL OR probe_until <= ?)
            RETURNING reason
            """,
            (now + PROBE_S, vendor, now, now),
        )
        if taken:
            return Gate(open=False, probe=True)
        return Gate(open=True, reason=rows[0]["reason"])

    async def open_breaker(self, vendor: str, reason: str, *, for_s: float) -> None:
        """Leave `vendor` out for `for_s` seconds, saying `reason` (plain text)."""
        await self._rows(
            """
            INSERT INTO vendor_breakers (vendor, open_until, reason, probe_until) VALUES (?, ?, ?, NULL)
            ON CONFLICT (vendor) DO UPDATE SET
                open_until = excluded.open_until, reason = excluded.reason, probe_until = NULL
            """,
            (vendor, self._clock() + for_s, reason),
        )

    async def close_breaker(self, vendor: str) -> None:
        await self._rows("DELETE FROM vendor_breakers WHERE vendor = ?", (vendor,))

    async def open_breakers(self) -> dict[str, str]:
        """The vendors left out now, with their reasons (for the help and the Home tab)."""
        rows = await self._rows(
            "SELECT vendor, reason FROM vendor_breakers WHERE open_until > ?", (self._clock(),)
        )
        return {row["vendor"]: row["reason"] for row in rows}
