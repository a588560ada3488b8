"""The store: schema, migrations and every query, on SQLite or PostgreSQL; nothing else touches SQL.
It hands out the dataclasses of bot.domain.tasks, never rows."""

from storage.store import Store, is_database_url

__all__ = ["Store", "is_database_url"]
