"""The store: schema, migrations and every query; nothing else touches SQL.
It hands out the dataclasses of bot.domain.tasks, never rows."""

from storage.store import Store

__all__ = ["Store"]
