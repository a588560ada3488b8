"""The task runner (claims, slots, leases) and the steps of one task (resume, progress): it finds images
through sources and hands outcomes to a Delivery (Slack or a folder), knowing neither."""

__all__ = ["delivery", "housekeeping", "pipeline", "progress", "runner", "sources", "steps"]
