"""A fleet on PostgreSQL: real bot processes (`python -m bot`) sharing one database, between the fake Slack
and vendors (bench/fakes_server.py, one process) and a real, throwaway PostgreSQL server (fakes/postgres.py).

    throughput  images of 320×240 (`apparel`) finished a second by 1, 2 and 3 instances — the events dealt
                to them in turn, as a load balancer would — from the first event sent to the last result
                posted; the vendor answers in 300 ms:
                (a) the vendor's limit is the bottleneck: AILAB_CONCURRENCY=2, which holds for the whole
                    fleet, 4 workers an instance. The fleet must stay at about 2 / 0.3 s ≈ 6.7 images a
                    second, not multiply past it, and the fake vendor must never see more than 2 calls at once.
                (b) it is not: AILAB_CONCURRENCY=64, 16 workers an instance. How far more instances help on
                    this machine, and where its cores went. Then one instance with 32 workers (32 calls
                    allowed at once), on each database.
                One instance on SQLite is measured beside them for reference.
    takeover    3 instances with work in flight (vendor calls of 1 s, 4 workers each); one is killed with
                `kill -9`; the time from the kill until every task is done and posted, against
                CUTOUT_LEASE_S: its tasks wait for their leases to run out, then for an instance to claim them.
    store       the store called directly, PostgreSQL against SQLite (bench/fleet_store.py)
    ack         the time one instance takes to answer Slack's HTTP request, on SQLite and on PostgreSQL
                (where the inbox write before the ack goes to the database), open loop at 40 requests a
                second, half `/cutout status` and half `file_share` events (bench/ack_latency.py)

    python -m bench.fleet [--limited-images 100] [--open-images 600] [--takeover-images 36] [--leases 5 10]
                          [--store-tasks 2000] [--claim-tasks 3000] [--ack-seconds 15]
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import time
from dataclasses import dataclass
from typing import Any

import psycopg

from bench import ack_latency
from bench.fleet_store import (
    CLAIMERS,
    CONCURRENT,
    Claims,
    claims_table,
    concurrent_claims,
    store_walks,
    walk_table,
)
from bench.processes import Bot, CpuMeter, Fakes, bot, children, fakes
from bench.results import benchmark_parser, machine, publish
from bench.slack_load import deliver_events, send_uploads, upload_events, wait_for_results
from fakes.images import png_bytes
from fakes.postgres import ThrowawayPostgres
from storage.postgres.limits import SLOT_POLL_S
from storage.postgres.store import POOL_SIZE

LATENCY_S = 0.3
LIMITED = {"AILAB_CONCURRENCY": "2", "CUTOUT_WORKERS": "4"}  # (a)
OPEN = {"AILAB_CONCURRENCY": "64", "CUTOUT_WORKERS": "16"}  # (b)
WIDE = {"AILAB_CONCURRENCY": "32", "CUTOUT_WORKERS": "32"}  # (b), one instance
FLEET_SIZES = (1, 2, 3)
TAKEOVER_LATENCY_S = 1.0  # long calls, so that the kill finds calls in flight
TAKEOVER_WORKERS = 4
ACK_SENDERS, ACK_RATE = 20, 2.0  # 40 requests a second
SATURATED = 0.85  # the machine's cores this busy: more processes only share them

_names = itertools.count(1)


class Postgres:
    """The throwaway server: a new database for each run, and the processes that are the server."""

    def __init__(self, server: ThrowawayPostgres) -> None:
        self.server = server

    def database(self, name: str) -> str:
        return self.server.create_database(f"{name}_{next(_names)}")

    def pids(self) -> list[int]:
        assert self.server.folder is not None
        postmaster = int((self.server.folder / "data" / "postmaster.pid").read_text().split()[0])
        return [postmaster, *children(postmaster)]

    def version(self) -> str:
        with psycopg.connect(self.server.url) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]).split()[0] if row else "?"


@contextlib.asynccontextmanager
async def fleet(running: Fakes, size: int, **settings: str) -> Any:
    """`size` bot processes with the same settings, started one after the other."""
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(bot(running, **settings)) for _ in range(size)]


async def db_rows(url: str, query: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cursor = await conn.execute(query, parameters)
        return list(await cursor.fetchall())


@dataclass(frozen=True, slots=True)
class Run:
    instances: int
    database: str
    workers: int  # an instance's
    limit: int  # AILAB_CONCURRENCY
    images: int
    seconds: float
    most_at_once: int  # AILabTools calls being answered at once: the most the fake saw
    vendor_calls: int
    spread: list[int]  # tasks each instance took, most first (PostgreSQL)
    cores: dict[str, float]  # cores used on average: bots, postgres, fakes, driver (this process), machine

    @property
    def per_s(self) -> float:
        return self.images / self.seconds

    @property
    def vendor_bound(self) -> float:
        """Images a second the settings allow the vendor to answer: calls at once ÷ its latency."""
        return min(self.instances * self.workers, self.limit) / LATENCY_S


async def throughput(
    postgres: Postgres, settings: dict[str, str], size: int, images: int, *, sqlite: bool
) -> Run:
    environment = {**settings, "CUTOUT_MAX_QUEUE": "100000"}
    url = None if sqlite else postgres.database(f"throughput_{size}")
    if url is not None:
        environment["CUTOUT_DATABASE_URL"] = url
    async with fakes(latency=LATENCY_S) as running, fleet(running, size, **environment) as bots:
        events = await upload_events(running, images, "apparel", image=png_bytes(320, 240))
        meter = CpuMeter(
            {
                "bots": lambda: [b.process.pid for b in bots],
                "postgres": postgres.pids,
                "fakes": lambda: [running.process.pid],
                "driver": lambda: [os.getpid()],
            }
        )
        meter.start()
        started = await deliver_events([b.url for b in bots], bots[0].signing_secret, events)
        finished = await wait_for_results(running, images, timeout_s=120 + images / 2)
        cores = meter.stop()
        stats = await running.stats()
        owners = "SELECT count(*) FROM tasks GROUP BY owner ORDER BY 1 DESC"
        spread = [] if url is None else [int(row[0]) for row in await db_rows(url, owners)]
    return Run(
        size,
        "SQLite" if sqlite else "PostgreSQL",
        int(settings["CUTOUT_WORKERS"]),
        int(settings["AILAB_CONCURRENCY"]),
        images,
        finished - started,
        stats["ailab_most_at_once"],
        stats["ailab_calls"],
        spread,
        cores,
    )


@dataclass(frozen=True, slots=True)
class Takeover:
    lease_s: float
    images: int
    left: int  # unfinished tasks the killed instance held
    leases_out_s: float  # from the kill until the last of their leases ran out
    all_done_s: float  # from the kill until every task was done and posted
    others_done_s: float  # from the kill until every task not the killed instance's was done
    posted: int
    vendor_calls: int


async def wait_until(check: Any, *, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (answer := await check()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s:.0f} s")
        await asyncio.sleep(0.05)
    return answer


async def takeover(postgres: Postgres, lease_s: float, images: int) -> Takeover:
    url = postgres.database(f"takeover_{lease_s:.0f}")
    settings = {
        "CUTOUT_DATABASE_URL": url,
        "CUTOUT_LEASE_S": f"{lease_s:g}",
        "CUTOUT_WORKERS": str(TAKEOVER_WORKERS),
        "AILAB_CONCURRENCY": "64",
        "CUTOUT_MAX_QUEUE": "100000",
    }
    now = "SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8"
    async with fakes(latency=TAKEOVER_LATENCY_S) as running, fleet(running, 3, **settings) as bots:
        victim: Bot = bots[0]
        await send_uploads(
            running,
            [b.url for b in bots],
            victim.signing_secret,
            images,
            "apparel",
            image=png_bytes(320, 240),
        )

        async def victim_calling() -> bool:
            rows = await db_rows(
                url,
                "SELECT count(*) FROM tasks WHERE owner = %s AND state = 'running' AND vendor IS NOT NULL",
                (victim.instance,),
            )
            return rows[0][0] >= TAKEOVER_WORKERS

        await wait_until(victim_calling, timeout_s=30, what="the instance to kill calling the vendor")
        await asyncio.sleep(TAKEOVER_LATENCY_S / 2)  # in the middle of its calls
        await victim.kill()
        (killed_at,) = (await db_rows(url, now))[0]
        await asyncio.sleep(0.2)  # a claim the victim sent before it died may still be committed
        left = await db_rows(
            url,
            "SELECT id, lease_until FROM tasks WHERE owner = %s AND notified_at IS NULL",
            (victim.instance,),
        )

        async def all_done() -> list[tuple[Any, ...]]:
            rows = await db_rows(url, "SELECT id, state, notified_at FROM tasks")
            finished = len(rows) == images and all(state == "done" and told for _, state, told in rows)
            return rows if finished else []

        rows = await wait_until(all_done, timeout_s=lease_s + 60, what="every task done and posted")
        await asyncio.sleep(0.5)  # room for a duplicate post to show itself
        stats = await running.stats()
    victims = {task_id for task_id, _ in left}
    return Takeover(
        lease_s,
        images,
        len(left),
        max(lease_until for _, lease_until in left) - killed_at,
        max(told for _, _, told in rows) - killed_at,
        max((told for task_id, _, told in rows if task_id not in victims), default=killed_at) - killed_at,
        stats["results_posted"],
        stats["ailab_calls"],
    )


async def acks(postgres: Postgres, seconds: float) -> dict[str, dict[str, dict[str, float]]]:
    sqlite = await ack_latency.measure(seconds, ACK_SENDERS, ACK_RATE)
    on_postgres = await ack_latency.measure(
        seconds, ACK_SENDERS, ACK_RATE, CUTOUT_DATABASE_URL=postgres.database("ack")
    )
    return {"SQLite": sqlite, "PostgreSQL": on_postgres}


@dataclass
class Results:
    version: str
    limited: list[Run]
    open: list[Run]
    takeovers: list[Takeover]
    walks: dict[str, dict[str, float]]
    claims: list[Claims]
    acks: dict[str, dict[str, dict[str, float]]]


async def measure_all(args: Any) -> Results:
    with ThrowawayPostgres() as server:
        postgres = Postgres(server)
        limited = [await throughput(postgres, LIMITED, 1, args.limited_images, sqlite=True)]
        opened = [await throughput(postgres, OPEN, 1, args.open_images, sqlite=True)]
        for size in FLEET_SIZES:
            limited.append(await throughput(postgres, LIMITED, size, args.limited_images, sqlite=False))
            opened.append(await throughput(postgres, OPEN, size, args.open_images, sqlite=False))
        for sqlite in (True, False):
            opened.append(await throughput(postgres, WIDE, 1, args.open_images, sqlite=sqlite))
        takeovers = [await takeover(postgres, lease, args.takeover_images) for lease in args.leases]
        walks = await store_walks(postgres.database, args.store_tasks)
        claims = [await concurrent_claims(postgres.database, args.claim_tasks, n) for n in FLEET_SIZES]
        answers = await acks(postgres, args.ack_seconds)
        return Results(postgres.version(), limited, opened, takeovers, walks, claims, answers)


def spread(run: Run) -> str:
    return " / ".join(map(str, run.spread)) or "—"


def limited_table(runs: list[Run]) -> str:
    lines = [
        "| instances | database | images | s | images / s | of 2 / 0.3 s | most calls at once (fake) "
        "| vendor calls | tasks per instance |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in runs:
        lines.append(
            f"| {r.instances} | {r.database} | {r.images} | {r.seconds:.1f} | {r.per_s:.2f} "
            f"| {r.per_s / r.vendor_bound:.0%} | {r.most_at_once} | {r.vendor_calls} | {spread(r)} |"
        )
    return "\n".join(lines)


def open_table(runs: list[Run], one: Run) -> str:
    lines = [
        "| instances × workers | database | images | s | images / s | × 1 instance | vendor allows / s "
        "| most calls at once | cores: bots / PostgreSQL / fakes / driver / rest | tasks per instance |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in runs:
        c = r.cores
        rest = max(0.0, c["machine"] - c["bots"] - c["postgres"] - c["fakes"] - c["driver"])
        lines.append(
            f"| {r.instances} × {r.workers} | {r.database} | {r.images} | {r.seconds:.1f} | {r.per_s:.1f} "
            f"| {r.per_s / one.per_s:.2f} | {r.vendor_bound:.0f} | {r.most_at_once} "
            f"| {c['bots']:.2f} / {c['postgres']:.2f} / {c['fakes']:.2f} / {c['driver']:.2f} / {rest:.2f} "
            f"| {spread(r)} |"
        )
    return "\n".join(lines)


def takeover_table(runs: list[Takeover]) -> str:
    lines = [
        "| CUTOUT_LEASE_S | images | tasks the killed instance held | kill → its last lease ran out "
        "| kill → the others' tasks done | kill → every task done and posted | results posted | vendor calls |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in runs:
        lines.append(
            f"| {r.lease_s:g} s | {r.images} | {r.left} | {r.leases_out_s:.1f} s | {r.others_done_s:.1f} s "
            f"| {r.all_done_s:.1f} s | {r.posted} | {r.vendor_calls} |"
        )
    return "\n".join(lines)


def ack_table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = [
        "| database | request | p50 ms | p95 ms | p99 ms | requests |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for database, result in results.items():
        for kind in ("command", "event"):
            r = result[kind]
            lines.append(
                f"| {database} | {kind} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | {r['count']:.0f} |"
            )
    return "\n".join(lines)


def span(values: list[float], unit: str = "", *, digits: int = 1) -> str:
    low, high = (f"{v:.{digits}f}" for v in (min(values), max(values)))
    return f"{low}{unit}" if low == high else f"{low}–{high}{unit}"


def meaning(results: Results) -> str:
    """One paragraph of what the numbers say, its words chosen by the numbers."""
    limit = int(LIMITED["AILAB_CONCURRENCY"])
    limited_pg = [r for r in results.limited if r.database == "PostgreSQL"]
    limited_sqlite = next(r for r in results.limited if r.database == "SQLite")
    most = max(r.most_at_once for r in results.limited)
    held = (
        f"the fleet-wide limit held (the fake vendor never saw more than {most} calls at once, limit {limit})"
        if most <= limit
        else f"the fleet-wide limit did NOT hold (the fake vendor saw {most} calls at once, limit {limit})"
    )
    shares = [100 * r.per_s / r.vendor_bound for r in limited_pg]
    workers = int(OPEN["CUTOUT_WORKERS"])
    open_pg = [r for r in results.open if r.database == "PostgreSQL" and r.workers == workers]
    one, three = open_pg[0], open_pg[-1]
    open_sqlite = results.open[0]
    wide_sqlite, wide_pg = results.open[-2], results.open[-1]
    cores = os.cpu_count() or 1
    capped = (
        f"with {WIDE['CUTOUT_WORKERS']} workers it never had more than {wide_pg.most_at_once} vendor calls at once "
        f"(SQLite: {wide_sqlite.most_at_once}) and finished {wide_pg.per_s:.0f} images a second (SQLite: "
        f"{wide_sqlite.per_s:.0f}), because each vendor call holds one of the store's {POOL_SIZE} pooled connections while "
        "it runs (storage/postgres/limits.py) and the task's other store calls queue behind them"
        if wide_pg.most_at_once < wide_sqlite.most_at_once
        else f"with {WIDE['CUTOUT_WORKERS']} workers it reached {wide_pg.most_at_once} calls at once "
        f"(SQLite: {wide_sqlite.most_at_once})"
    )
    after = [t.all_done_s - t.leases_out_s for t in results.takeovers]
    twice = sum(t.posted - t.images for t in results.takeovers)
    killed = ", ".join(f"{t.all_done_s:.1f} s (CUTOUT_LEASE_S={t.lease_s:g})" for t in results.takeovers)
    busy = three.cores["machine"] / cores
    walks = results.walks
    claims = {c.stores: c.per_s for c in results.claims}
    more = max(v for n, v in claims.items() if n > 1) / claims[1]
    acks = {db: max(r[k]["p99"] for k in ("command", "event")) for db, r in results.acks.items()}
    return (
        f"What it means: {held}, and 1–3 instances on PostgreSQL stayed at {span([r.per_s for r in limited_pg])} "
        f"images a second ({span(shares, '%', digits=0)} of the {limit / LATENCY_S:.1f} it allows; one instance on SQLite "
        f"{100 * limited_sqlite.per_s / limited_sqlite.vendor_bound:.0f}%): a slot freed on PostgreSQL is found "
        f"by polling advisory locks every {SLOT_POLL_S[0] * 1000:.0f}–{SLOT_POLL_S[1] * 1000:.0f} ms. Without the "
        "limit, 3 instances did "
        f"{three.per_s / one.per_s:.2f}× the work of one ({three.per_s:.0f} against {one.per_s:.0f} images a "
        f"second) with the {cores} cores {busy:.0%} busy"
        + (
            ", near saturation: more instances on this machine would not help. "
            if busy >= SATURATED
            else f" (under {SATURATED:.0%}: the cores were not the limit). "
        )
        + (
            f"The disappointment is one instance on PostgreSQL: {one.per_s / open_sqlite.per_s:.0%} of one on "
            f"SQLite, and {capped}. "
            if one.per_s < 0.95 * open_sqlite.per_s or wide_pg.most_at_once < wide_sqlite.most_at_once
            else f"One instance on PostgreSQL did {one.per_s / open_sqlite.per_s:.0%} of one on SQLite, and {capped}. "
        )
        + "A `kill -9` costs the fleet about one lease: every task was done and "
        f"posted {killed} after the kill, {span(after, ' s')} after the killed instance's leases ran out (a lease is "
        "renewed every third of its length, so it has ⅔ to all of it left at a kill; then a claim poll of at most "
        "2 s, and the call again); "
        + ("no image was posted twice. " if twice == 0 else f"{twice} images were posted twice. ")
        + "Called directly, the store on PostgreSQL makes "
        f"{walks['postgres']['one'] / walks['sqlite']['one']:.0%} of SQLite's calls a second (one caller; "
        f"{walks['postgres']['many'] / walks['sqlite']['many']:.0%} with {CONCURRENT}), each a round trip to "
        f"the server; 2–3 stores claiming together reached {more:.2f}× one store's claims a second, no task "
        + (
            "claimed twice. "
            if all(c.twice == 0 for c in results.claims)
            else "— and some tasks were claimed TWICE. "
        )
        + f"Ack p99: {acks['PostgreSQL']:.1f} ms on PostgreSQL, {acks['SQLite']:.1f} ms on SQLite (target "
        f"< {ack_latency.TARGET_P99_MS:.0f} ms)."
    )


def report(results: Results, args: Any) -> str:
    limited, opened = LIMITED, OPEN
    one = next(r for r in results.open if r.database == "PostgreSQL")
    return (
        f"{machine()}; PostgreSQL {results.version} (ThrowawayPostgres: fsync off), the bots (`python -m bot`), "
        "the fake Slack and vendors (one process) and this driver all on the same machine. Vendor latency "
        f"{LATENCY_S * 1000:.0f} ms, images of 320×240, `apparel`.\n\n"
        f"**Throughput, the vendor's limit the bottleneck**: AILAB_CONCURRENCY={limited['AILAB_CONCURRENCY']} "
        f"(for the whole fleet), {limited['CUTOUT_WORKERS']} workers an instance, {args.limited_images} images a "
        "run, from the first event sent to the last result posted.\n\n"
        f"{limited_table(results.limited)}\n\n"
        f"**Throughput, the limit not the bottleneck**: AILAB_CONCURRENCY={opened['AILAB_CONCURRENCY']}, "
        f"{opened['CUTOUT_WORKERS']} workers an instance; last two rows {WIDE['CUTOUT_WORKERS']} workers and "
        f"AILAB_CONCURRENCY={WIDE['AILAB_CONCURRENCY']}. Cores: the average used over the run by the bots, "
        "PostgreSQL, the fakes, this driver, and every other process on the machine.\n\n"
        f"{open_table(results.open, one)}\n\n"
        f"**Takeover**: 3 instances, {TAKEOVER_WORKERS} workers each, vendor calls of {TAKEOVER_LATENCY_S:g} s, "
        f"{args.takeover_images} images; once the first instance holds {TAKEOVER_WORKERS} unfinished tasks it is "
        "killed with `kill -9`. Times in the database's clock, from the kill.\n\n"
        f"{takeover_table(results.takeovers)}\n\n"
        f"**Store calls**, the store used directly in one process, {args.store_tasks} tasks each way: create, claim, "
        "running, vendor parts, results, finish.\n\n"
        f"{walk_table(results.walks)}\n\n"
        f"**Claims on PostgreSQL** by 1–3 stores at once, each in its own process with {CLAIMERS} claimers, "
        f"`claim_tasks(1)` until {args.claim_tasks} queued tasks are gone.\n\n"
        f"{claims_table(results.claims)}\n\n"
        f"**Ack latency**, one instance, open loop: {ACK_SENDERS} senders × {ACK_RATE:g} a second for "
        f"{args.ack_seconds:g} s, half `/cutout status`, half `file_share` events (real tasks, 16 workers).\n\n"
        f"{ack_table(results.acks)}\n\n"
        f"{meaning(results)}"
    )


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--limited-images", type=int, default=100)
    parser.add_argument("--open-images", type=int, default=600)
    parser.add_argument("--takeover-images", type=int, default=36)
    parser.add_argument("--leases", type=float, nargs="+", default=[5.0, 10.0], help="CUTOUT_LEASE_S values")
    parser.add_argument("--store-tasks", type=int, default=2000)
    parser.add_argument("--claim-tasks", type=int, default=3000)
    parser.add_argument("--ack-seconds", type=float, default=15.0)
    args = parser.parse_args()
    results = asyncio.run(measure_all(args))
    publish("Fleet on PostgreSQL", report(results, args), record=not args.no_record)


if __name__ == "__main__":
    main()
