"""The bot process: store → engines → runner → Slack app → serve (HTTP or Socket Mode), and back down."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

import aiohttp
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

from bot.app import build_slack, create_app, create_web_client
from bot.assembly import (
    build_engines,
    build_housekeeper,
    build_runner,
    build_sources,
    fleet_limits,
    open_store,
)
from bot.config import Config
from bot.tasks.progress import DEFAULT_PACING, Pacing
from bot.tasks.runner import TaskRunner
from handlers.inbox import replay
from handlers.services import FILE_SHARED_WAIT_S, Services
from storage import Store

logger = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"


class Bot:
    """Start with `await bot.start()`, stop with `await bot.stop()`; `stop()` may be called twice."""

    def __init__(
        self,
        config: Config,
        *,
        pacing: Pacing = DEFAULT_PACING,
        file_shared_wait_s: float = FILE_SHARED_WAIT_S,
    ) -> None:
        """`pacing` and `file_shared_wait_s`: the waits of the runner and of `file_shared` (tests shorten them)."""
        config.require_slack()
        self.config = config
        self._pacing = pacing
        self._file_shared_wait_s = file_shared_wait_s
        self.port: int | None = None
        self.store: Store | None = None
        self.runner: TaskRunner | None = None
        self._grace_s = 10.0
        # Everything started is closed in the reverse order: stop taking events → stop the runner → close
        # the clients → close the store. A start that fails half-way is undone the same way.
        self._closing = contextlib.AsyncExitStack()

    async def start(self) -> None:
        """Build the parts (bot.assembly, bot.app) and start them, each closed in the reverse order."""
        config, closing = self.config, self._closing
        store = self.store = await open_store(config)
        closing.push_async_callback(store.close)
        engines = build_engines(config, limits_for=fleet_limits(store))
        closing.push_async_callback(engines.aclose)
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        closing.push_async_callback(session.close)
        client = create_web_client(config, session)
        slack = build_slack(config, client, recent_presets=store.recent_presets)
        closing.push_async_callback(slack.aclose)
        sources = build_sources(config, slack.files.download_file)
        closing.push_async_callback(sources.aclose)
        runner = self.runner = build_runner(config, store, engines, slack, sources, pacing=self._pacing)
        configured = engines.configured()
        services = Services(
            config,
            store,
            runner.notify,
            configured,
            local_engine=True,
            file_shared_wait_s=self._file_shared_wait_s,
        )
        app = create_app(services, client)
        await runner.start()
        closing.push_async_callback(lambda: runner.stop(self._grace_s))
        await store.listen(runner.notify)
        await self._replay_inbox(app, store)
        housekeeper = build_housekeeper(config, store)
        housekeeper.start()
        closing.push_async_callback(housekeeper.stop)
        for mode, engine in configured.items():
            logger.info("mode %s: %s", mode, engine or "not configured")
        await self._serve(app)

    async def _replay_inbox(self, app: AsyncApp, store: Store) -> None:
        """The only instance replays every unsettled request at start; in a fleet, a request is another's to
        settle for a lease, and any instance replays what a stopped one left, now and every half lease."""
        older_than_s = store.lease_s if store.shared else 0.0
        if replayed := await replay(app, store, older_than_s=older_than_s):
            logger.info("%d Slack request(s) acknowledged before the last stop were handled again", replayed)
        if store.shared:
            replaying = asyncio.create_task(self._keep_replaying(app, store), name="inbox-replay")
            self._closing.push_async_callback(_cancelled, replaying)

    async def _serve(self, app: AsyncApp) -> None:
        """Take Slack's events: over Socket Mode when there is an app token, else over HTTP."""
        if self.config.socket_mode:
            handler = AsyncSocketModeHandler(app, self.config.slack_app_token)
            await handler.connect_async()
            self._closing.push_async_callback(handler.close_async)
            logger.info("connected to Slack in Socket Mode")
        else:
            await self._listen(app.web_app(path=EVENTS_PATH))

    async def _listen(self, web_app: web.Application) -> None:
        """HTTP mode: Slack's requests at EVENTS_PATH, and the health check."""
        config = self.config
        web_app.router.add_get(HEALTH_PATH, self._health)
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._closing.callback(listener.close)  # after the site that serves on it is cleaned up
        runner = web.AppRunner(web_app, handle_signals=False)
        await runner.setup()
        self._closing.push_async_callback(runner.cleanup)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((config.host, config.port))
        self.port = listener.getsockname()[1]
        await web.SockSite(runner, listener).start()
        logger.info("listening for Slack on http://%s:%d%s (HTTP mode)", config.host, self.port, EVENTS_PATH)

    async def stop(self, grace_s: float = 10.0) -> None:
        """Stop taking events, let running steps finish within `grace_s`, then close everything."""
        self._grace_s = grace_s
        await self._closing.aclose()
        self.runner = None
        self.store = None

    async def _keep_replaying(self, app: AsyncApp, store: Store) -> None:
        while True:
            await asyncio.sleep(store.lease_s / 2)
            try:
                if replayed := await replay(app, store, older_than_s=store.lease_s):
                    logger.info("%d Slack request(s) a stopped instance acknowledged were handled", replayed)
            except Exception:
                logger.exception("could not replay the inbox; trying again later")

    async def _health(self, request: web.Request) -> web.Response:
        """200 with the queue length; 503 when the database cannot be reached (a load balancer then sends
        Slack's requests to another instance)."""
        if self.store is None:
            return web.json_response({"ok": False, "problem": "not started"}, status=503)
        try:
            await self.store.ping()
            queued = await self.store.queue_length()
        except Exception as error:
            logger.warning("health check: the database cannot be reached (%s)", type(error).__name__)
            return web.json_response({"ok": False, "problem": "database unreachable"}, status=503)
        return web.json_response({"ok": True, "queued": queued})


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
