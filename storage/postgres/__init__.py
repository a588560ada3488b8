"""The PostgreSQL store, for a fleet of instances sharing one database: its migrations, the connection
pools, LISTEN/NOTIFY wake-ups and vendor limits that hold across the fleet."""

__all__ = ["limits", "migrations", "store"]
