"""Outgoing Slack: Block Kit, file upload and download with the bot token, messages, reactions,
and the Delivery of the bot."""

__all__ = ["blocks", "files", "gateway", "messages", "reactions"]
