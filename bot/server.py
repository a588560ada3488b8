"""The bot process: store → engines → runner → Slack app → serve (HTTP or Socket Mode), and back down."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import aiohttp
import httpx
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from bot.app import create_app, create_web_client
from bot.config import Config
from bot.engines.registry import Engines
from bot.net.client import http_client
from bot.slack.gateway import SlackGateway, files_origin
from bot.tasks.housekeeping import Housekeeper
from bot.tasks.runner import DEFAULT_PACING, Pacing, TaskRunner
from bot.tasks.sources import ImageSources
from handlers.inbox import replay
from handlers.services import Services
from storage import Store

logger = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
SLACK_FILES_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


class Bot:
    """Start with `await bot.start()`, stop with `await bot.stop()`; `stop()` may be called twice."""

    def __init__(
        self, config: Config, *, pacing: Pacing = DEFAULT_PACING, file_shared_wait_s: float = 3.0
    ) -> None:
        """`pacing` and `file_shared_wait_s`: the waits of the runner and of `file_shared` (tests shorten them)."""
        config.require_slack()
        self.config = config
        self._pacing = pacing
        self._file_shared_wait_s = file_shared_wait_s
        self.port: int | None = None
        self.store: Store | None = None
        self.runner: TaskRunner | None = None
        self._engines: Engines | None = None
        self._slack: SlackGateway | None = None
        self._sources: ImageSources | None = None
        self._housekeeper: Housekeeper | None = None
        self._session: aiohttp.ClientSession | None = None
        self._web: web.AppRunner | None = None
        self._listener: socket.socket | None = None
        self._socket: AsyncSocketModeHandler | None = None

    async def start(self) -> None:
        config = self.config
        Path(config.data_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
        self.store = await Store.open(config.db_path)
        self._engines = Engines.from_config(config)
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        client = create_web_client(config, self._session)
        self._slack = SlackGateway(
            client,
            http_client(timeout=SLACK_FILES_TIMEOUT),
            files_origin=files_origin(config.slack_api_url),
            max_file_bytes=config.max_file_bytes,
            download_deadline_s=config.download_timeout_s,
        )
        self._sources = ImageSources(
            self._slack.download_file,
            http_client(timeout=SLACK_FILES_TIMEOUT),
            allow_private_urls=config.allow_private_urls,
            max_bytes=config.max_file_bytes,
            download_deadline_s=config.download_timeout_s,
        )
        self.runner = TaskRunner(
            self.store,
            self._engines,
            self._slack,
            self._sources,
            data_dir=Path(config.data_dir),
            concurrency=config.workers,
            max_attempts=config.max_attempts,
            pacing=self._pacing,
        )
        engines = self._engines.configured()
        app = create_app(
            Services(
                config,
                self.store,
                self.runner.notify,
                engines,
                local_engine=True,
                file_shared_wait_s=self._file_shared_wait_s,
            ),
            client,
        )
        await self.runner.start()
        if replayed := await replay(app, self.store):
            logger.info("%d Slack request(s) acknowledged before the last stop were handled again", replayed)
        self._housekeeper = Housekeeper(
            self.store, Path(config.data_dir), retention_s=config.retention_days * 86400
        )
        self._housekeeper.start()
        for mode, engine in engines.items():
            logger.info("mode %s: %s", mode, engine or "not configured")
        if config.socket_mode:
            self._socket = AsyncSocketModeHandler(app, config.slack_app_token)
            await self._socket.connect_async()
            logger.info("connected to Slack in Socket Mode")
        else:
            web_app = app.web_app(path=EVENTS_PATH)
            web_app.router.add_get(HEALTH_PATH, self._health)
            self._web = web.AppRunner(web_app, handle_signals=False)
            await self._web.setup()
            self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listener.bind((config.host, config.port))
            self.port = self._listener.getsockname()[1]
            await web.SockSite(self._web, self._listener).start()
            logger.info(
                "listening for Slack on http://%s:%d%s (HTTP mode)", config.host, self.port, EVENTS_PATH
            )

    async def stop(self, grace_s: float = 10.0) -> None:
        """Stop taking events, let running steps finish within `grace_s`, then close everything."""
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        if self._web is not None:
            await self._web.cleanup()
            self._web = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._housekeeper is not None:
            await self._housekeeper.stop()
            self._housekeeper = None
        if self.runner is not None:
            await self.runner.stop(grace_s)
            self.runner = None
        if self._engines is not None:
            await self._engines.aclose()
            self._engines = None
        if self._sources is not None:
            await self._sources.aclose()
            self._sources = None
        if self._slack is not None:
            await self._slack.aclose()
            self._slack = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self.store is not None:
            await self.store.close()
            self.store = None

    async def _health(self, request: web.Request) -> web.Response:
        queued = await self.store.queue_length() if self.store is not None else None
        return web.json_response({"ok": True, "queued": queued})
