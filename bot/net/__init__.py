"""Networking below everything that fetches: the HTTP client, downloads with caps and deadlines,
and the guard that keeps URL fetches off private addresses."""

__all__ = ["client", "downloads", "urls"]
