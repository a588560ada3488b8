"""The bot on PostgreSQL (CUTOUT_DATABASE_URL), in the test process between the fakes: the same flow as on
SQLite, and a health check that tells a load balancer when the database cannot be reached."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import psycopg

from fakes.images import jpeg_bytes
from fakes.net import wait_for
from tests.e2e.harness import running_bot


async def test_an_upload_is_cut_out_and_posted_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    async with running_bot(tmp_path, CUTOUT_DATABASE_URL=postgres_url) as harness:
        slack = harness.slack
        event = await harness.drop_image([slack.host_file("shirt.jpg", jpeg_bytes())], text="apparel whiteBK")
        (posted,) = await wait_for(lambda: slack.file_messages, what="the result")
        assert posted.thread_ts == event["ts"]
        (task,) = await harness.store.tasks_for_message(event["channel"], event["ts"])
        assert task.state == "done" and task.notified_at is not None and task.owner == harness.store.owner
        assert await harness.store.inbox_entries() == []  # the request was settled
    with psycopg.connect(postgres_url) as conn:  # what the bot recorded, read by anyone
        (row,) = conn.execute("SELECT state, spec FROM tasks").fetchall()
    assert row == ("done", "apparel white")


async def test_health_fails_while_the_database_cannot_be_reached(tmp_path: Path, postgres_url: str) -> None:
    name = urlsplit(postgres_url).path.lstrip("/")
    admin_url = postgres_url.rsplit("/", 1)[0] + "/postgres"
    async with running_bot(tmp_path, CUTOUT_DATABASE_URL=postgres_url) as harness:
        health_url = harness.bot_url.replace("/slack/events", "/healthz")
        async with aiohttp.ClientSession() as session:
            async with session.get(health_url) as reply:
                assert (reply.status, await reply.json()) == (200, {"ok": True, "queued": 0})
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
                )
            try:
                async with session.get(health_url) as reply:
                    assert reply.status == 503
                    assert await reply.json() == {"ok": False, "problem": "database unreachable"}
            finally:
                with psycopg.connect(admin_url, autocommit=True) as admin:
                    admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            # back when the database is: the pool connects again
            async with session.get(health_url) as reply:
                assert reply.status == 200
