"""The cost of intake's anti-join against `purged_messages` (issue 17): the batched INSERT of 500
requests with and without it, alternated on one connection, with 200,000 purged ids remembered.

    .venv/bin/python -m tests.bench.purged_ids
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid

import asyncpg

from worker.database.migrations import migrate

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
_INSERT = """
INSERT INTO photo_requests (message_id, code_oc, reference_commande_sous_traitant_oi,
    next_attempt_at)
SELECT r.m, 'OCAA', r.ref, now() FROM unnest($1::uuid[], $2::text[]) AS r(m, ref)
{where}
ON CONFLICT (message_id) DO NOTHING RETURNING message_id
"""
_ANTI_JOIN = "WHERE NOT EXISTS (SELECT 1 FROM purged_messages p WHERE p.message_id = r.m)"


async def main(rounds: int = 200, batch: int = 500, purged: int = 200_000) -> None:
    name = f"bench_purged_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        conn = await asyncpg.connect(ADMIN.rsplit("/", 1)[0] + f"/{name}")
        try:
            await migrate(conn)
            await conn.execute(
                "INSERT INTO purged_messages (message_id, code_oc)"
                " SELECT gen_random_uuid(), 'OCAA' FROM generate_series(1, $1)",
                purged,
            )
            await conn.execute("ANALYZE purged_messages")
            timings: dict[bool, list[float]] = {False: [], True: []}
            refs = [f"R-{i}" for i in range(batch)]
            for n in range(rounds):
                checked = n % 2 == 1
                statement = _INSERT.format(where=_ANTI_JOIN if checked else "")
                ids = [uuid.uuid4() for _ in range(batch)]
                started = time.perf_counter()
                await conn.fetch(statement, ids, refs)
                timings[checked].append(time.perf_counter() - started)
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()
    for checked, label in ((False, "without"), (True, "with")):
        ms = sorted(t * 1000 for t in timings[checked])
        print(
            f"{batch} requests per INSERT {label} the anti-join: median"
            f" {statistics.median(ms):.2f} ms, p90 {ms[int(len(ms) * 0.9)]:.2f} ms"
        )


if __name__ == "__main__":
    asyncio.run(main())
