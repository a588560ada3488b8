"""The SQLite store's queries, by what they are about: intake, settings, tasks; rows.py holds the
connection they share and turns rows into the domain's dataclasses."""

__all__ = ["intake", "rows", "settings", "tasks"]
