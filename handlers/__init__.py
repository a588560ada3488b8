"""Incoming Slack, listeners only: commands, events, actions, shortcuts and views record (before the ack) and
wake the runner; thin. `register_handlers(app)` is the one place listeners are attached."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from handlers import actions, commands, events, shortcuts, views

__all__ = ["register_handlers"]


def register_handlers(app: AsyncApp) -> None:
    commands.register(app)
    events.register(app)
    actions.register(app)
    shortcuts.register(app)
    views.register(app)
