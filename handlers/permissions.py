"""Who may change the bot's settings in a workspace (`/cutout default`, `auto`, `limit`): the members named
in CUTOUT_ADMINS and the workspace's admins and owners (Slack's `users.info`, which needs `users:read`).
With CUTOUT_ADMINS unset and no admin flag to read, everyone may, as before."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

logger = logging.getLogger(__name__)

__all__ = ["Permission", "may_change_settings", "settings_by", "who_may_change_settings"]


@dataclass(frozen=True, slots=True)
class Permission:
    allowed: bool
    refusal: str = ""  # mrkdwn, for the ephemeral reply: who can


async def may_change_settings(admins: frozenset[str], client: AsyncWebClient, user_id: str) -> Permission:
    if user_id.upper() in admins:
        return Permission(True)
    readable, slack_admin = await _slack_admin(client, user_id)
    if slack_admin or (not admins and not readable):
        return Permission(True)
    return Permission(False, f"Only {who_may_change_settings(admins)} can change this. Nothing was changed.")


def who_may_change_settings(admins: frozenset[str]) -> str:
    """mrkdwn: "<@U1>, <@U2> and the workspace's admins and owners"."""
    named = ", ".join(f"<@{user}>" for user in sorted(admins))
    return f"{named} and the workspace's admins and owners" if named else "the workspace's admins and owners"


async def _slack_admin(client: AsyncWebClient, user_id: str) -> tuple[bool, bool]:
    """(whether Slack told us, whether the member is an admin or owner)."""
    try:
        response = await client.users_info(user=user_id)
    except SlackApiError as error:
        logger.info("users.info for %s: %s; admin flags unknown", user_id, error.response.get("error"))
        return False, False
    user = response.get("user") or {}
    flags = ("is_admin", "is_owner", "is_primary_owner")
    if not any(flag in user for flag in flags):
        return False, False
    return True, any(bool(user.get(flag)) for flag in flags)


def settings_by(admins: frozenset[str]) -> str:
    """mrkdwn for the help: who may change settings, as far as the configuration tells."""
    if admins:
        return who_may_change_settings(admins)
    return (
        "the workspace's admins and owners — or by everyone when the bot cannot read who they are "
        "(set CUTOUT_ADMINS to name who may)"
    )
