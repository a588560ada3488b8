"""The queries, by what they are about (intake, settings, tasks, breakers, usage), written once for SQLite and PostgreSQL:
`?` placeholders and the SQL both understand; `base.Database` is what each database provides."""

__all__ = ["base", "breakers", "intake", "settings", "tasks", "usage"]
