"""The task runner: claims, steps, resume, progress; it finds images through sources and hands
outcomes to a Delivery (Slack or a folder), knowing neither."""

__all__ = ["delivery", "housekeeping", "pipeline", "progress", "runner", "sources"]
