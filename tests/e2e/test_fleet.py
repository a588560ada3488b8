"""Three bot processes on one PostgreSQL database, between the fake Slack and vendors: the work spreads over
all three, one is killed with `kill -9` in the middle, and the other two finish everything — each image
posted exactly once, none lost, the vendors asked again only for what died in a call with the killed
process, and the vendors' limits held by the fleet as a whole."""

from __future__ import annotations

import asyncio
import itertools
import signal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from fakes.images import jpeg_bytes
from fakes.net import wait_for
from tests import fault_report
from tests.e2e.harness import BotProcess, Fakes

LEASE_S = 3  # short, so the test sees a takeover; the default is 60
AILAB_CONCURRENCY = 2
PICWISH_QPS = 4


@pytest.fixture
async def fakes():
    running = await Fakes.start(picwish_qps=PICWISH_QPS)
    yield running
    await running.stop()


def task_rows(url: str) -> list[dict[str, Any]]:
    with psycopg.connect(url) as conn:
        cursor = conn.execute(
            "SELECT id, state, error_code, notified_at, owner, vendor, thread_ts FROM tasks ORDER BY id"
        )
        names = [column.name for column in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


async def start_fleet(fakes: Fakes, tmp_path: Path, database_url: str, size: int) -> list[BotProcess]:
    bots = []
    for n in range(size):
        home = tmp_path / f"instance-{n}"  # no shared disk: each has its own work folder
        home.mkdir(parents=True)
        env = fakes.environment(
            home,
            CUTOUT_DATABASE_URL=database_url,
            CUTOUT_LEASE_S=str(LEASE_S),
            CUTOUT_WORKERS="2",
            AILAB_CONCURRENCY=str(AILAB_CONCURRENCY),
            PICWISH_CONCURRENCY="4",
        )
        bots.append(BotProcess(env, home))
    await asyncio.gather(*(bot.start() for bot in bots))
    return bots


async def test_a_fleet_shares_the_work_and_finishes_a_killed_instances_tasks(
    fakes: Fakes, tmp_path: Path, postgres_url: str
) -> None:
    slack, ailab, picwish = fakes.slack, fakes.ailab, fakes.picwish
    ailab.gate = asyncio.Event()
    bots = await start_fleet(fakes, tmp_path, postgres_url, 3)
    try:
        names = {bot.instance for bot in bots}
        assert None not in names and len(names) == 3
        events = [
            slack.image_message([slack.host_file(f"shirt{n}.jpg", jpeg_bytes())], text="apparel")
            for n in range(9)
        ] + [
            slack.image_message([slack.host_file(f"dress{n}.jpg", jpeg_bytes())], text="segment")
            for n in range(3)
        ]
        for event, bot in zip(events, itertools.cycle(bots), strict=False):  # the load balancer
            assert await slack.send_event(bot.url, event) == 200
        # all three claim work; AILabTools holds its calls, so claims pile up behind the fleet's two slots
        await wait_for(
            lambda: {row["owner"] for row in task_rows(postgres_url) if row["owner"]} == names,
            what="tasks claimed by every instance",
            timeout=20,
        )
        await wait_for(lambda: ailab.waiting == AILAB_CONCURRENCY, what="AILabTools' slots full", timeout=20)
        victim = bots[0]
        in_call = [
            row
            for row in task_rows(postgres_url)
            if row["owner"] == victim.instance and row["state"] == "running" and row["vendor"] == "AILabTools"
        ]
        await victim.kill()
        ailab.gate.set()
        rows = await wait_for(
            lambda: (
                (r := task_rows(postgres_url))
                and len(r) == len(events)
                and all(row["state"] == "done" and row["notified_at"] for row in r)
                and r
            ),
            what="every task done and told",
            timeout=45,
        )
        await asyncio.sleep(0.5)  # room for a duplicate to show itself
    finally:
        for bot in bots:
            if bot.process is not None and bot.process.returncode is None:
                await bot.kill()
    answers = sorted(m.thread_ts for m in slack.file_messages)
    assert answers == sorted(event["ts"] for event in events)  # each image posted exactly once
    assert slack.messages == []  # and nothing failed
    # the killed instance's tasks were finished by the others
    assert not {row["owner"] for row in rows} & {victim.instance}
    apparel = sum(1 for event in events if event["text"] == "apparel")
    assert apparel <= len(ailab.requests) <= apparel + len(in_call)
    assert ailab.most_at_once <= AILAB_CONCURRENCY  # 3 instances × 2 workers could have made 6
    assert len(picwish.created) == 3
    assert picwish.throttled == 0  # never more than PICWISH_QPS requests in a second, fleet-wide
    fault_report.survived("kill -9 of one instance of three")
    # asking again for what died in a call with the process is the only way to its result: not a duplicate
    duplicates = max(0, len(ailab.requests) - apparel - len(in_call))
    fault_report.tasks_checked(len(events), lost=0, duplicate_vendor_calls=duplicates)


async def test_an_instance_frozen_past_its_lease_changes_nothing_when_it_wakes(
    fakes: Fakes, tmp_path: Path, postgres_url: str
) -> None:
    slack, ailab = fakes.slack, fakes.ailab
    ailab.gate = asyncio.Event()
    (frozen,) = await start_fleet(fakes, tmp_path / "a", postgres_url, 1)
    bots = [frozen]
    try:
        event = slack.image_message([slack.host_file("shirt.jpg", jpeg_bytes())], text="apparel")
        assert await slack.send_event(frozen.url, event) == 200
        await wait_for(lambda: ailab.waiting == 1, what="its vendor call under way")
        assert frozen.process is not None
        frozen.process.send_signal(signal.SIGSTOP)  # a frozen machine: its connections stay open
        bots += await start_fleet(fakes, tmp_path / "b", postgres_url, 1)
        taker = bots[1]
        await wait_for(
            lambda: [row for row in task_rows(postgres_url) if row["owner"] == taker.instance],
            what="the task taken over",
            timeout=20,
        )
        await wait_for(lambda: ailab.waiting == 2, what="the vendor asked again by the new owner")
        ailab.gate.set()
        (row,) = await wait_for(
            lambda: [r for r in task_rows(postgres_url) if r["state"] == "done" and r["notified_at"]],
            what="the task done",
            timeout=20,
        )
        frozen.process.send_signal(signal.SIGCONT)  # it wakes up holding its old vendor answer
        await wait_for(
            lambda: any(("taken over by another" in line or "lease was lost" in line) for line in frozen.log),
            what="the woken instance leaving the task",
            timeout=20,
        )
        await asyncio.sleep(0.5)
    finally:
        for bot in bots:
            if bot.process is not None and bot.process.returncode is None:
                bot.process.send_signal(signal.SIGCONT)
                await bot.kill()
    assert [m.thread_ts for m in slack.file_messages] == [event["ts"]]  # posted once, by the new owner
    assert slack.messages == []
    assert row["owner"] == taker.instance
    assert task_rows(postgres_url) == [row]  # the woken instance wrote nothing
    fault_report.survived("an instance frozen past its lease (SIGSTOP), then woken")
    fault_report.tasks_checked(1, lost=0, duplicate_vendor_calls=len(ailab.requests) - 2)
