"""Every migration applies on a million requests while intake, claims, renewals and outcomes run,
and none of their statements waits a second for a lock (issue 17: 0009_console_search's index
builds held photo_requests for 4.2 s)."""

from __future__ import annotations

import shutil
from pathlib import Path

import asyncpg
import pytest

from tests.database.traffic import FIRST_INDEX_BUILD, Traffic, files_before, fill
from worker.database.migrations import discover, migrate

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.timeout(400)]

REQUESTS = 1_000_000
PHOTOS = 200_000


async def test_migrations_on_a_million_requests_never_hold_the_traffic_a_second(
    empty_database: str, tmp_path: Path
) -> None:
    conn = await asyncpg.connect(empty_database, server_settings={"application_name": "migrate"})
    try:
        before = tmp_path / "before"
        before.mkdir()
        for path in files_before(FIRST_INDEX_BUILD):
            shutil.copy(path, before / path.name)
        await migrate(conn, before)
        await fill(conn, REQUESTS, PHOTOS)
        async with Traffic(empty_database) as traffic:
            applied = await migrate(conn)
        invalid = await conn.fetchval("SELECT count(*) FROM pg_index WHERE NOT indisvalid")
    finally:
        await conn.close()

    print(f"\nApplying {', '.join(applied)} on {REQUESTS:,} requests:\n{traffic.report()}")
    assert applied == [m.version for m in discover() if m.version >= FIRST_INDEX_BUILD]
    assert invalid == 0
    # No statement of the traffic waited a second for a lock (pg_locks.waitstart, watched) ...
    assert traffic.longest_wait < 1.0, traffic.report()
    # ... nor was any slowed much longer by anything else (the machine being busy included) ...
    assert traffic.slowest < 3.0, traffic.report()
    # ... and the traffic ran all along (a stalled loop would prove nothing).
    assert all(kind.statements >= 20 for kind in traffic.kinds.values()), traffic.report()
