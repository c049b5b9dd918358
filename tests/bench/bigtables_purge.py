"""The purge on big tables: `.venv/bin/python -m tests.bench.bigtables_purge`.

On a copy of `bigtables_bench` (`bigtables.py`; the copy is dropped at the end), deletes the
oldest million attempts with `worker purge`'s code (batches of 5,000, 50 ms apart) while another
connection claims due requests every 20 ms, as a scheduler does. Reports the purge's time and
WAL, the claim's latency before and during the purge, and the VACUUM that follows.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import asyncpg

from tests.bench import bigtables
from tests.bench.environment import ADMIN_DSN
from worker.ops.purge import Retention, purge

COPY = "bigtables_purge"
DSN = f"postgresql://postgres@127.0.0.1:5432/{COPY}"
DOOMED = 1_000_000


async def _copy() -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{COPY}" WITH (FORCE)')
        started = time.monotonic()
        await admin.execute(
            f'CREATE DATABASE "{COPY}" TEMPLATE "{bigtables.DB}" STRATEGY FILE_COPY'
        )
        print(f"copied {bigtables.DB} in {time.monotonic() - started:.0f} s", flush=True)
    finally:
        await admin.close()


async def _drop() -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{COPY}" WITH (FORCE)')
    finally:
        await admin.close()


async def _claims(conn: asyncpg.Connection, until: asyncio.Event, times: list[float]) -> None:
    while not until.is_set():
        times += await bigtables.timed(lambda: bigtables._claim(conn), 1)
        await asyncio.sleep(0.02)


def _summary(times: list[float]) -> str:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"{len(times)} claims: median {statistics.median(times):.2f} ms, p99 {p99:.2f} ms,"
        f" slowest {ordered[-1]:.2f} ms"
    )


async def _baseline(conn: asyncpg.Connection, seconds: float) -> list[float]:
    until, times = asyncio.Event(), []  # type: ignore[var-annotated]
    task = asyncio.create_task(_claims(conn, until, times))
    await asyncio.sleep(seconds)
    until.set()
    await task
    return times


async def measure() -> None:
    await bigtables.prepare()
    await _copy()
    try:
        await _measure()
    finally:
        await _drop()


async def _measure() -> None:
    conn, scheduler = await asyncpg.connect(DSN), await asyncpg.connect(DSN)
    try:
        print("before:", _summary(await _baseline(scheduler, 20)), flush=True)
        keep = await conn.fetchval(
            "SELECT now() - finished_at FROM request_attempts ORDER BY id OFFSET $1 LIMIT 1",
            DOOMED,
        )
        lsn = await conn.fetchval("SELECT pg_current_wal_lsn()")
        until, during = asyncio.Event(), []  # type: ignore[var-annotated]
        claiming = asyncio.create_task(_claims(scheduler, until, during))
        report = await purge(conn, Retention(keep, None, None, None, 5000, 0.05), None)
        until.set()
        await claiming
        wal = await conn.fetchval("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)", lsn)
        print(
            f"purge: {report.deleted['attempts']:,} attempts in {report.batches} batches,"
            f" {report.seconds:.1f} s ({report.deleted['attempts'] / report.seconds:,.0f} rows/s),"
            f" WAL {wal / 2**20:,.0f} MiB",
            flush=True,
        )
        print("during:", _summary(during), flush=True)
        started, lsn = time.monotonic(), await conn.fetchval("SELECT pg_current_wal_lsn()")
        await conn.execute("VACUUM request_attempts")
        wal = await conn.fetchval("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)", lsn)
        print(
            f"VACUUM request_attempts after it: {time.monotonic() - started:.1f} s,"
            f" WAL {wal / 2**20:,.0f} MiB",
            flush=True,
        )
        print("after:", _summary(await _baseline(scheduler, 20)), flush=True)
    finally:
        await conn.close()
        await scheduler.close()


if __name__ == "__main__":
    asyncio.run(measure())
