"""The Bolt app: built by a factory, never at import time, so tests can make as many as they need."""

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

from bot.config import Config
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
