"""Specs armed by `/cutout` before an upload, channel settings (default spec, auto-processing), and the
marketplace presets a channel used last."""

from __future__ import annotations

from typing import Any

from bot.domain.grammar import Spec, parse_spec
from bot.domain.listing import Preset
from bot.domain.tasks import (
    ChannelSettings,
)
from storage.queries.base import Database


class SettingsQueries(Database):
    async def arm_spec(self, channel_id: str, user_id: str, spec: Spec, *, ttl_s: float) -> None:
        now = self._clock()
        await self._rows(
            """
            INSERT INTO armed_specs (channel_id, user_id, spec, armed_at, expires_at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (channel_id, user_id)
            DO UPDATE SET spec = excluded.spec, armed_at = excluded.armed_at, expires_at = excluded.expires_at
            """,
            (channel_id, user_id, spec.words(), now, now + ttl_s),
        )

    async def take_armed_spec(self, channel_id: str, user_id: str) -> Spec | None:
        """Remove and return the user's armed spec for the channel, unless it has expired."""
        rows = await self._rows(
            "DELETE FROM armed_specs WHERE channel_id = ? AND user_id = ? RETURNING spec, expires_at",
            (channel_id, user_id),
        )
        row = rows[0] if rows else None
        if row is None or row["expires_at"] < self._clock():
            return None
        return parse_spec(row["spec"])

    async def channel_settings(self, channel_id: str) -> ChannelSettings:
        rows = await self._rows(
            "SELECT default_spec, auto FROM channel_settings WHERE channel_id = ?", (channel_id,)
        )
        row = rows[0] if rows else None
        if row is None:
            return ChannelSettings(channel_id)
        spec = parse_spec(row["default_spec"]) if row["default_spec"] else None
        return ChannelSettings(channel_id, default_spec=spec, auto=bool(row["auto"]))

    async def set_channel_default(self, channel_id: str, spec: Spec, *, user_id: str) -> None:
        await self._upsert_channel(channel_id, "default_spec", spec.words(), user_id)

    async def set_channel_auto(self, channel_id: str, on: bool, *, user_id: str) -> None:
        await self._upsert_channel(channel_id, "auto", int(on), user_id)

    async def _upsert_channel(self, channel_id: str, column: str, value: Any, user_id: str) -> None:
        assert column in ("default_spec", "auto")
        await self._rows(
            f"""
            INSERT INTO channel_settings (channel_id, {column}, updated_by, updated_at) VALUES (?, ?, ?, ?)
            ON CONFLICT (channel_id) DO UPDATE SET
                {column} = excluded.{column}, updated_by = excluded.updated_by, updated_at = excluded.updated_at
            """,  # noqa: S608 - column is one of two fixed names
            (channel_id, value, user_id, self._clock()),
        )

    async def channels_set_by(self, user_id: str) -> list[ChannelSettings]:
        """The channel settings this user changed last."""
        rows = await self._rows(
            "SELECT channel_id, default_spec, auto FROM channel_settings WHERE updated_by = ? ORDER BY updated_at DESC",
            (user_id,),
        )
        return [
            ChannelSettings(
                row["channel_id"],
                default_spec=parse_spec(row["default_spec"]) if row["default_spec"] else None,
                auto=bool(row["auto"]),
            )
            for row in rows
        ]

    async def note_preset(self, channel_id: str, preset: Preset) -> None:
        """A result in the channel was laid out for `preset` now."""
        await self._rows(
            """
            INSERT INTO channel_presets (channel_id, preset, used_at) VALUES (?, ?, ?)
            ON CONFLICT (channel_id, preset) DO UPDATE SET used_at = excluded.used_at
            """,
            (channel_id, preset.value, self._clock()),
        )

    async def recent_presets(self, channel_id: str, *, limit: int = 2) -> list[Preset]:
        """The presets the channel's results were laid out for, newest first."""
        rows = await self._rows(
            "SELECT preset FROM channel_presets WHERE channel_id = ? ORDER BY used_at DESC, preset LIMIT ?",
            (channel_id, limit),
        )
        known = {preset.value for preset in Preset}
        return [Preset(row["preset"]) for row in rows if row["preset"] in known]
