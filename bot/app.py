"""The Slack side of the composition root: the Web API client, the Slack parts the runner delivers through
(files, threads, reactions) and the Bolt app — built by factories, never at import time, so tests can make
as many as they need."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.assembly import FETCH_TIMEOUT
from bot.config import Config
from bot.net.client import http_client
from bot.slack.files import SlackFiles, files_origin
from bot.slack.gateway import RecentPresets, SlackGateway
from bot.slack.messages import SlackThreads
from bot.slack.reactions import SlackReactions
from handlers import register_handlers
from handlers.inbox import record_before_ack
from handlers.services import CONTEXT_KEY, Services

logger = logging.getLogger(__name__)


def create_web_client(config: Config, session: aiohttp.ClientSession | None = None) -> AsyncWebClient:
    """The Slack Web API client: `SLACK_API_URL`, retries on connection errors and 429s, and one shared
    aiohttp session (without it slack-sdk opens a new session and connection for every call)."""
    return AsyncWebClient(
        token=config.slack_bot_token,
        base_url=config.slack_api_url,
        session=session,
        timeout=30,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        ],
    )


def build_slack(
    config: Config, client: AsyncWebClient, *, recent_presets: RecentPresets | None = None
) -> SlackGateway:
    """Slack for the runner (the bot's Delivery): uploads and messages through `client`, and file downloads
    with the token, sent only to Slack's file origin, within the size cap and the download deadline;
    `recent_presets` (the store's) gives the marketplace buttons under a result."""
    files = SlackFiles(
        client,
        http_client(timeout=FETCH_TIMEOUT),
        files_origin=files_origin(config.slack_api_url),
        max_file_bytes=config.max_file_bytes,
        download_deadline_s=config.download_timeout_s,
    )
    return SlackGateway(files, SlackThreads(client), SlackReactions(client), recent_presets=recent_presets)


def create_app(services: Services, client: AsyncWebClient) -> AsyncApp:
    app = AsyncApp(
        client=client,
        signing_secret=services.config.slack_signing_secret or "",
        logger=logging.getLogger("slack_bolt"),
    )

    async def attach_services(context: AsyncBoltContext, next: Callable[[], Awaitable[Any]]) -> None:
        context[CONTEXT_KEY] = services
        await next()

    async def on_error(error: Exception) -> None:
        logger.error("listener failed: %s", type(error).__name__, exc_info=error)

    app.use(attach_services)
    app.use(record_before_ack(services.store))
    app.error(on_error)
    register_handlers(app)
    return app
