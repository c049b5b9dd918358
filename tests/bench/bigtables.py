"""Big tables: `.venv/bin/python -m tests.bench --only bigtables [--runs 9]`.

Makes (once; `python -m tests.bench.bigtables --rebuild` to make it again; about 15 minutes) a
database `bigtables_bench` of a million finished requests, ten million attempts and 100,000
pending requests (`bigtables_data.py`), migrates it (so that a new migration is measured), then
times on it, medians of `runs` after a warm-up: the scheduler's claim and its next-due probe
(inside a transaction rolled back, so that every run sees the same rows), `worker status` (its
queries, and the command as a process), and the console's pages (`console.py`). Prints the
plans (EXPLAIN ANALYZE, BUFFERS) of the claim, the probe and each status query.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from tests.bench import bigtables_data, console
from tests.bench.environment import ADMIN_DSN
from tests.bench.scenarios import Figures
from worker.database.migrations import migrate
from worker.ops import status
from worker.schedule import claims

DB = "bigtables_bench"
DSN = f"postgresql://postgres@127.0.0.1:5432/{DB}"
OCS = ("OC01", "OC02", "OC03", "OC04", "OC05", "OC06", "OC07", "OC08")
Row = tuple[str, str, str, str]


async def prepare(rebuild: bool = False) -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DB)
        if rebuild or not exists:
            await admin.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{DB}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(DSN)
    try:
        applied = await migrate(conn)
        if rebuild or not exists:
            print(f"Making the big tables in {DB}:", flush=True)
            await bigtables_data.fill(conn)
        elif applied:
            await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def _claim(conn: asyncpg.Connection) -> Any:
    free = dict.fromkeys(OCS, 4)
    waits = dict.fromkeys(OCS, 7 * 86400.0)
    tx = conn.transaction()
    await tx.start()
    try:
        return await claims.claim_due(conn, free, waits, 16, 30.0, "bench")  # type: ignore[arg-type]
    finally:
        await tx.rollback()


async def _next_due(conn: asyncpg.Connection) -> Any:
    return await claims.seconds_to_next_due(conn, OCS)  # type: ignore[arg-type]


async def _status_queries(conn: asyncpg.Connection) -> Any:
    return [
        await status.count_requests(conn),
        await status.oldest_pending(conn),
        await conn.fetch(status._NEXT_DUE, 10, list(OCS)),
        await conn.fetch(status._IN_FLIGHT),
        await status.unsent_events(conn),
        await status.recent_dead_letters(conn, 5),
        await status.last_purge(conn),
    ]


async def timed(work: Callable[[], Awaitable[Any]], runs: int) -> list[float]:
    """Milliseconds of each run, after one warm-up."""
    times = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        await work()
        times.append(1000 * (time.perf_counter() - started))
    return times[1:]


def _process(*args: str) -> float:
    """Milliseconds of `worker ARGS` as a process, start-up included."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKER_")}
    env |= {"WORKER_DATABASE_URL": DSN, "WORKER_AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "worker", *args],
        env=env,
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return 1000 * (time.perf_counter() - started)


async def measure(runs: int) -> Figures:
    await prepare()
    figures = Figures()
    conn = await asyncpg.connect(DSN)
    try:
        print(await _sizes(conn), flush=True)
        for name, work in (("claim", _claim), ("next_due", _next_due)):
            figures.values[f"{name}_ms"] = await timed(lambda w=work: w(conn), runs)  # type: ignore[misc]
        figures.values["status_queries_ms"] = await timed(lambda: _status_queries(conn), runs)
        for name, args in (("status", ("status", "--json")), ("start", ("--version",))):
            figures.values[f"{name}_process_ms"] = [
                await asyncio.to_thread(_process, *args) for _ in range(max(3, runs // 3))
            ]
        await _print_plans(conn)
    finally:
        await conn.close()
    slowest = await console.time_console(DSN)
    figures.add(console_slowest_median_ms=slowest)
    return figures


async def _sizes(conn: asyncpg.Connection) -> str:
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM photo_requests WHERE status <> 'pending') AS finished,"
        " (SELECT count(*) FROM photo_requests WHERE status = 'pending') AS pending,"
        " (SELECT reltuples::bigint FROM pg_class WHERE relname = 'request_attempts') AS attempts,"
        " pg_size_pretty(pg_database_size(current_database())) AS size"
    )
    return (
        f"{DB}: {row['finished']:,} finished requests, {row['pending']:,} pending,"
        f" about {row['attempts']:,} attempts; {row['size']}"
    )


async def _print_plans(conn: asyncpg.Connection) -> None:
    plans: list[tuple[str, str, tuple[Any, ...]]] = [
        ("claim (8 OCs, 4 free slots each, 16 at most)", claims._CLAIM, _claim_args()),
        ("next due", claims.NEXT_DUE, (list(OCS),)),
        ("status: counts", status._COUNTS, ()),
        ("status: oldest pending", status._OLDEST, ()),
        ("status: next due", status._NEXT_DUE, (10, list(OCS))),
        ("status: in flight", status._IN_FLIGHT, ()),
        ("status: unsent events", "SELECT count(*) FROM outbox WHERE sent_at IS NULL", ()),
    ]
    print("\nPlans, EXPLAIN (ANALYZE, BUFFERS):")
    for name, sql, args in plans:
        tx = conn.transaction()
        await tx.start()
        try:
            rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)
        finally:
            await tx.rollback()
        print(f"\n## {name}\n" + "\n".join(f"    {r[0]}" for r in rows), flush=True)


def _claim_args() -> tuple[Any, ...]:
    n = len(OCS)
    return (list(OCS), [4] * n, 16, 30.0, "bench", [7 * 86400.0] * n)


def rows(figures: Figures | None) -> list[Row]:
    if figures is None:
        return []

    def ms(name: str) -> str:
        values = figures.values[name]
        return f"{statistics.median(values):.1f} ms (slowest {max(values):.1f})"

    claim, process = figures.median("claim_ms"), figures.median("status_process_ms")
    console_ms = figures.median("console_slowest_median_ms")
    return [
        ("big tables: claim of due requests", ms("claim_ms"), "<= 2 ms", _met(claim <= 2)),
        ("big tables: next due probe", ms("next_due_ms"), "", ""),
        ("big tables: `worker status` queries", ms("status_queries_ms"), "", ""),
        (
            "big tables: `worker status` process",
            ms("status_process_ms"),
            "<= 1 s",
            _met(process <= 1000),
        ),
        ("big tables: `worker --version` process (start-up)", ms("start_process_ms"), "", ""),
        (
            "big tables: console, slowest page (median)",
            f"{console_ms:.0f} ms",
            "<= 300 ms",
            _met(console_ms <= 300),
        ),
    ]


def _met(ok: bool) -> str:
    return "yes" if ok else "no"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bigtables", description=__doc__)
    parser.add_argument("--rebuild", action="store_true", help="make the database again")
    asyncio.run(prepare(parser.parse_args().rebuild))


if __name__ == "__main__":
    main()
