"""The SQLite store (one file, one machine: the default) and its migrations: the shared queries of
storage/queries run on one aiosqlite connection for the runner and one for intake, in WAL mode."""

__all__ = ["migrations", "store"]
