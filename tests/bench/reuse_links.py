"""The cost of "reused later" on a request page: `.venv/bin/python -m tests.bench.reuse_links`.

Makes a scratch database of 1,000,000 requests and 125,000 findings, one in nine a
`reused_photo` pointing at another request (about the proportions of `console_data.py`), times
the query of `worker.console.reuses` for 30 requests that were reused (median and slowest, warm
cache), prints the plan of one, and drops the database.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import asyncpg

from tests.bench.environment import ADMIN_DSN
from worker.console.reuses import _LATER
from worker.database.migrations import migrate

DB = "viewer_reuse_links"
RUNS = 30

_REQUESTS = """
INSERT INTO photo_requests (message_id, code_oc, reference_commande_sous_traitant_oi, status,
    attempts, received_at)
SELECT md5('r' || g)::uuid, 'OCAA', 'REF-' || g, 'completed', 1,
    now() - make_interval(secs => g * 30)
FROM generate_series(1, 1000000) g
"""
_FINDINGS = """
INSERT INTO photo_findings (message_id, code_oc, kind, severity, photo_ids, detail,
    related_message_id, created_at)
SELECT md5('r' || g)::uuid, 'OCAA', CASE WHEN g % 9 = 0 THEN 'reused_photo' ELSE 'unpaired' END,
    'warning', ARRAY[md5('p' || g)::uuid], 'finding ' || g,
    CASE WHEN g % 9 = 0 THEN md5('r' || (g + 7))::uuid END, now() - make_interval(secs => g * 30)
FROM generate_series(1, 1000000, 8) g
"""
_REUSED = """
SELECT related_message_id FROM photo_findings WHERE related_message_id IS NOT NULL
ORDER BY random() LIMIT $1
"""


async def measure() -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f"DROP DATABASE IF EXISTS {DB}")
    await admin.execute(f"CREATE DATABASE {DB}")
    try:
        conn = await asyncpg.connect(ADMIN_DSN.rsplit("/", 1)[0] + f"/{DB}")
        try:
            await migrate(conn)
            await conn.execute(_REQUESTS)
            await conn.execute(_FINDINGS)
            await conn.execute("ANALYZE")
            targets = [row[0] for row in await conn.fetch(_REUSED, RUNS)]
            times = []
            for target in targets:
                started = time.perf_counter()
                await conn.fetch(_LATER, target)
                times.append((time.perf_counter() - started) * 1000)
            reuses = await conn.fetchval(
                "SELECT count(*) FROM photo_findings WHERE kind = 'reused_photo'"
            )
            print(
                f"reused later, {reuses} reuse findings: median {statistics.median(times):.1f} ms,"
                f" slowest {max(times):.1f} ms over {len(times)} requests"
            )
            plan = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + _LATER, targets[0])
            print("\n".join(row[0] for row in plan))
        finally:
            await conn.close()
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {DB}")
        await admin.close()


if __name__ == "__main__":
    asyncio.run(measure())
