"""The store on PostgreSQL against SQLite, called directly (no bot): how many of the runner's calls a second,
and how fast several stores claim from one queue at once. Part of `python -m bench.fleet`.

    walk     each task created, claimed, marked running, given vendor parts, results, and finished — the six
             store calls of a task's life — by one caller, then by 32 at once (32 workers), in one process
    claims   a queue of tasks claimed one by one (`claim_tasks(1)`) by 1, 2 and 3 stores at once, each in a
             process of its own with 8 claimers (PostgreSQL: `FOR UPDATE SKIP LOCKED`); no task may be
             claimed twice
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.store_speed import new_task
from bot.domain.tasks import ResultFile, StoredPart, TaskState
from storage import Store
from storage.postgres.store import POOL_SIZE

CALLS_PER_TASK = 6  # create, claim, running, vendor parts, results, finish
CONCURRENT = 32
CLAIMERS = 8  # claim loops in each store's process

_numbers = itertools.count(1)


async def walk(store: Store, count: int, callers: int) -> float:
    """Tasks a second carried from creation to done, `callers` at a time."""
    numbers = iter(range(count))
    base = next(_numbers) * 10_000_000

    async def caller() -> None:
        for n in numbers:
            assert await store.create_task(new_task(base + n)) is not None
            claimed = []
            while not claimed:  # another caller may take this one first, and its own be not yet seen
                claimed = await store.claim_tasks(1)
            (task,) = claimed
            await store.set_state(task, TaskState.RUNNING, vendor="AILabTools")
            await store.save_vendor_parts(task, [StoredPart("main", url=f"https://cdn.test/{task.id}.png")])
            await store.save_results(
                task, [ResultFile(f"/data/task-{task.id}/r.png", "r.png", "apparel")], summary="ok"
            )
            await store.finish(task, TaskState.DONE, notified=True)

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    seconds = time.perf_counter() - started
    assert await store.queue_length() == 0
    return count / seconds


async def walk_rates(target: str | Path, count: int) -> dict[str, float]:
    """Tasks a second through their whole life on one database: one caller, and 32 at once."""
    store = await Store.open(target)
    try:
        return {"one": await walk(store, count, 1), "many": await walk(store, count, CONCURRENT)}
    finally:
        await store.close()


async def store_walks(database: Callable[[str], str], count: int) -> dict[str, dict[str, float]]:
    """`database(name)`: the URL of a new PostgreSQL database."""
    with tempfile.TemporaryDirectory(prefix="cutout-fleet-store-") as work:
        sqlite = await walk_rates(Path(work) / "walk.db", count)
    postgres = await walk_rates(database("walk"), count)
    return {"sqlite": sqlite, "postgres": postgres}


async def _fill(url: str, count: int) -> None:
    store = await Store.open(url)
    try:
        numbers = iter(range(count))

        async def caller() -> None:
            for n in numbers:
                assert await store.create_task(new_task(n)) is not None

        await asyncio.gather(*(caller() for _ in range(CONCURRENT)))
    finally:
        await store.close()


async def _claim_all(url: str, ready: Any) -> tuple[list[int], float, float]:
    store = await Store.open(url)
    try:
        claimed: list[int] = []
        await asyncio.to_thread(ready.wait)  # every store open before any claims
        started = time.time()

        async def claimer() -> None:
            while tasks := await store.claim_tasks(1):
                claimed.extend(task.id for task in tasks)

        await asyncio.gather(*(claimer() for _ in range(CLAIMERS)))
        return claimed, started, time.time()
    finally:
        await store.close()


def claim_all(url: str, ready: Any) -> tuple[list[int], float, float]:
    """In a process of its own: open a store, wait at the barrier `ready` for the others, then claim until
    the queue is empty. Returns the ids claimed, and when it started and finished (the machine's clock)."""
    return asyncio.run(_claim_all(url, ready))


@dataclass(frozen=True, slots=True)
class Claims:
    stores: int
    claimed: int
    twice: int  # tasks claimed by more than one claim: must be 0
    per_s: float
    shares: list[int]  # tasks each store claimed, most first


async def concurrent_claims(database: Callable[[str], str], count: int, stores: int) -> Claims:
    """`stores` processes claiming a queue of `count` tasks at once: claims a second, and claimed twice."""
    url = database(f"claims_{stores}")
    await _fill(url, count)
    loop = asyncio.get_running_loop()
    spawn = multiprocessing.get_context("spawn")
    with spawn.Manager() as manager, ProcessPoolExecutor(stores, mp_context=spawn) as pool:
        ready = manager.Barrier(stores)
        results = await asyncio.gather(
            *(loop.run_in_executor(pool, claim_all, url, ready) for _ in range(stores))
        )
    ids = [task_id for claimed, _, _ in results for task_id in claimed]
    seconds = max(end for _, _, end in results) - min(start for _, start, _ in results)
    shares = sorted((len(claimed) for claimed, _, _ in results), reverse=True)
    return Claims(stores, len(ids), len(ids) - len(set(ids)), len(ids) / seconds, shares)


def walk_table(walks: dict[str, dict[str, float]]) -> str:
    lines = [
        f"| database | tasks / s, one caller | store calls / s, one caller | tasks / s, {CONCURRENT} at once "
        f"| store calls / s, {CONCURRENT} at once |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, label in (
        ("sqlite", "SQLite (WAL, aiosqlite)"),
        ("postgres", f"PostgreSQL (psycopg pool of {POOL_SIZE})"),
    ):
        r = walks[name]
        lines.append(
            f"| {label} | {r['one']:.0f} | {r['one'] * CALLS_PER_TASK:.0f} | {r['many']:.0f} "
            f"| {r['many'] * CALLS_PER_TASK:.0f} |"
        )
    return "\n".join(lines)


def claims_table(claims: list[Claims]) -> str:
    lines = [
        "| stores (processes) | tasks claimed | claims / s | claimed twice | claims per store |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in claims:
        shares = " / ".join(str(n) for n in r.shares)
        lines.append(f"| {r.stores} | {r.claimed} | {r.per_s:.0f} | {r.twice} | {shares} |")
    return "\n".join(lines)
