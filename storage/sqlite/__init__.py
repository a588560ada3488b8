"""The SQLite store (one file, one machine: the default) and its migrations."""

__all__ = ["migrations", "store"]
