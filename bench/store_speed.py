"""Store: how fast SQLite records tasks and their state changes, and how long the bot takes to resume 1,000
unfinished tasks when it starts.

    recorded       `create_task` calls a second: one caller, and 32 at once (events arrive concurrently)
    state changes  the store calls one task makes from claim to done (claim, vendor parts, results,
                   finish), a second, with 32 tasks at once as 32 workers would
    resume         the real bot started on a database a `kill -9` left with 1,000 tasks mid-way (vendor
                   call in flight): time from start to listening, less the same start on an empty
                   database; then every one of them is carried through to its result in the thread

    python -m bench.store_speed [--tasks 5000] [--interrupted 1000]
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from bench.processes import Fakes, bot, fakes
from bench.results import benchmark_parser, machine, publish
from bench.slack_load import wait_for_results
from bot.domain.grammar import parse_spec
from bot.domain.tasks import NewTask, ResultFile, SourceFile, StoredPart, TaskSource, TaskState
from fakes.images import png_bytes
from storage import Store

CONCURRENT = 32
APPAREL = parse_spec("apparel")


def new_task(
    n: int, file: SourceFile | None = None, *, channel: str = "C0BENCH", ts: str | None = None
) -> NewTask:
    stamp = ts or f"{1_700_000_000 + n}.000100"
    return NewTask(
        team_id="T0TEST",
        channel_id=channel,
        user_id=f"U{n % 50:04d}",
        message_ts=stamp,
        thread_ts=stamp,
        file=file or SourceFile(f"F{n:08d}", f"item-{n}.png", "image/png", f"https://files.test/{n}", 2048),
        spec=APPAREL,
        source=TaskSource.UPLOAD,
    )


async def record_rate(store: Store, count: int, callers: int) -> float:
    """Tasks recorded a second with `callers` recording at once."""
    numbers = iter(range(count))

    async def caller() -> None:
        for n in numbers:
            assert await store.create_task(new_task(n + callers * 1_000_000)) is not None

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return count / (time.perf_counter() - started)


async def state_change_rate(store: Store, count: int) -> tuple[float, int]:
    """(state changes a second, changes made): every queued task carried to done as the runner does,
    32 at once."""
    changes = 0

    async def worker() -> None:
        nonlocal changes
        while claimed := await store.claim_tasks(1):
            (task,) = claimed
            await store.set_state(task, TaskState.RUNNING, vendor="AILabTools")
            await store.save_vendor_parts(task, [StoredPart("main", url=f"https://cdn.test/{task.id}.png")])
            await store.save_results(
                task, [ResultFile(f"/data/task-{task.id}/r.png", "r.png", "apparel")], summary="ok"
            )
            await store.finish(task, TaskState.DONE, notified=True)
            changes += 5

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENT)))
    seconds = time.perf_counter() - started
    assert await store.queue_length() == 0
    return changes / seconds, changes


async def store_rates(count: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="cutout-store-") as work:
        store = await Store.open(Path(work) / "one.db")
        try:
            one = await record_rate(store, count, callers=1)
        finally:
            await store.close()
        store = await Store.open(Path(work) / "many.db")
        try:
            many = await record_rate(store, count, callers=CONCURRENT)
            changes, made = await state_change_rate(store, count)
        finally:
            await store.close()
    return {"recorded_one": one, "recorded_many": many, "changes": changes, "changes_made": made}


async def interrupted_database(path: Path, running: Fakes, count: int) -> None:
    """A database as a `kill -9` leaves it: `count` tasks claimed, their vendor calls in flight."""
    files = await running.host_files(png_bytes(320, 240), count, "item.png", "image/png")
    store = await Store.open(path)
    try:
        for n, file in enumerate(files):
            event = await running.message([file], "apparel", user=f"U{n % 50:04d}")
            source = SourceFile(file["id"], file["name"], file["mimetype"], file["url_private_download"])
            assert await store.create_task(new_task(n, source, channel=event["channel"], ts=event["ts"]))
        claimed = await store.claim_tasks(count)
        assert len(claimed) == count
        for task in claimed:
            await store.set_state(task, TaskState.RUNNING, vendor="AILabTools")
    finally:
        await store.close()


async def start_seconds(running: Fakes, **settings: str) -> float:
    started = time.monotonic()
    async with bot(running, **settings):
        return time.monotonic() - started


async def resume(count: int) -> dict[str, float]:
    settings = {"CUTOUT_WORKERS": "32", "AILAB_CONCURRENCY": "16", "CUTOUT_MAX_QUEUE": "100000"}
    with tempfile.TemporaryDirectory(prefix="cutout-resume-") as work:
        async with fakes(latency=0.3) as running:
            empty = min([await start_seconds(running, **settings) for _ in range(3)])
            database = Path(work) / "interrupted.db"
            await interrupted_database(database, running, count)
            started = time.monotonic()
            async with bot(running, CUTOUT_DB_PATH=str(database), **settings):
                listening = time.monotonic() - started
                finished = await wait_for_results(running, count, timeout_s=600)
            stats = await running.stats()
    return {
        "interrupted": count,
        "start_empty_s": empty,
        "start_interrupted_s": listening,
        "resume_s": max(0.0, listening - empty),
        "all_done_s": finished - started,
        "results": stats["results_posted"],
    }


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--interrupted", type=int, default=1000)
    args = parser.parse_args()
    rates = asyncio.run(store_rates(args.tasks))
    resumed = asyncio.run(resume(args.interrupted))
    body = (
        f"{machine()}; SQLite in WAL mode through aiosqlite (one connection), {args.tasks} tasks\n\n"
        "| tasks recorded / s, one caller | tasks recorded / s, 32 at once | state changes / s, 32 tasks at once "
        "| start-up, empty database | start-up with interrupted tasks | resume cost | all resumed tasks posted |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n"
        f"| {rates['recorded_one']:.0f} | {rates['recorded_many']:.0f} | {rates['changes']:.0f} "
        f"| {resumed['start_empty_s']:.2f} s | {resumed['start_interrupted_s']:.2f} s ({resumed['interrupted']:.0f}) "
        f"| {resumed['resume_s']:.2f} s | {resumed['all_done_s']:.1f} s ({resumed['results']:.0f} results) |\n\n"
        "A state change is one store call of the runner's (claim, vendor parts, results, finish, and the "
        "`running` mark). Start-up is from launching the process to listening; the tasks were left mid-vendor-call, "
        "so each is queued again and then run at 16 vendor calls at once, 300 ms a call."
    )
    publish("Store", body, record=not args.no_record)


if __name__ == "__main__":
    main()
