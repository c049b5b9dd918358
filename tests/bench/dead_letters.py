"""The dead letters page's statements on many dead letters:
`.venv/bin/python -m tests.bench.dead_letters [--rows 200000]`.

Makes a scratch database (dropped at the end) with that many dead letters, a quarter of them
replayed and a third of those refused again, and prints each statement's median and slowest
time over 7 runs, then its plan (EXPLAIN ANALYZE).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from typing import Any

import asyncpg

from tests.bench.environment import ADMIN_DSN
from worker.console.dead_letter_rows import COUNTS, STATES, letters_query
from worker.database.migrations import migrate

RUNS = 7
_FILL = """
INSERT INTO dead_letters
    (message_id, reason, detail, body_excerpt, worker, dead_lettered_at, replayed_at)
SELECT md5('d' || g)::uuid::text, (ARRAY['not_json', 'invalid_fields', 'unknown_oc'])[1 + g % 3],
    'bench', '{"messageId": "' || md5('d' || g)::uuid || '"}', 'bench-1',
    now() - make_interval(secs => g * 600),
    CASE WHEN g % 4 = 0 THEN now() - make_interval(secs => g * 600 - 60) END
FROM generate_series($1::int, 1, -1) AS g
"""
_AGAIN = """
INSERT INTO dead_letters (message_id, reason, detail, body_excerpt, worker, dead_lettered_at)
SELECT message_id, reason, detail, body_excerpt, worker, replayed_at + interval '1 second'
FROM dead_letters WHERE replayed_at IS NOT NULL AND id % 3 = 0
"""


async def _time(conn: asyncpg.Connection, label: str, sql: str, *args: Any) -> None:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        await conn.fetch(sql, *args)
        times.append((time.perf_counter() - started) * 1000)
    print(f"{label}: median {statistics.median(times):.1f} ms, slowest {max(times):.1f} ms")
    for row in await conn.fetch("EXPLAIN (ANALYZE, COSTS OFF) " + sql, *args):
        print("    " + row[0])


async def main(rows: int) -> None:
    name = f"dead_letters_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        conn = await asyncpg.connect(ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}")
        try:
            await migrate(conn)
            await conn.execute(_FILL, rows)
            await conn.execute(_AGAIN)
            await conn.execute("ANALYZE dead_letters")
            print(await conn.fetchval("SELECT count(*) FROM dead_letters"), "dead letters")
            await _time(conn, "counts by reason", COUNTS)
            await _time(conn, "page, all", letters_query([], 51))
            await _time(conn, "page, replayed", letters_query([STATES["replayed"]], 51))
            waiting = ["d.reason = $1", STATES["waiting"]]
            await _time(conn, "page, unknown_oc waiting", letters_query(waiting, 51), "unknown_oc")
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    asyncio.run(main(parser.parse_args().rows))
