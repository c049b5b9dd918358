"""A search within filters that match nothing reads no reference range (issue 19, item 8): the
queries the listing runs are recorded on a real connection and their plans read."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest

from tests.console import seed
from worker.console.filters import Filters
from worker.console.listing import list_requests

pytestmark = pytest.mark.services
ROWS = 5000


async def _seed_many(db: asyncpg.Pool) -> None:
    await db.execute(
        "INSERT INTO photo_requests (message_id, code_oc, reference_commande_sous_traitant_oi,"
        " status, attempts, received_at, completed_at)"
        " SELECT gen_random_uuid(), 'OCAA', 'INT-' || n, 'completed', 1,"
        " now() - n * interval '1 minute', now() - n * interval '1 minute'"
        " FROM generate_series(1, $1) AS n",
        ROWS,
    )
    await db.execute("ANALYZE photo_requests")


async def _queries(db: asyncpg.Pool, filters: Filters) -> list[tuple[str, tuple[Any, ...]]]:
    ran: list[tuple[str, tuple[Any, ...]]] = []

    def record(query: Any) -> None:
        ran.append((query.query, query.args))

    async with db.acquire() as conn:
        conn.add_query_logger(record)
        try:
            page = await list_requests(conn, filters)  # type: ignore[arg-type]
        finally:
            conn.remove_query_logger(record)
    assert page.rows == []
    return ran


async def _seq_scans(db: asyncpg.Pool, ran: list[tuple[str, tuple[Any, ...]]]) -> list[str]:
    scanned = []
    for query, args in ran:
        plan = await db.fetchval(f"EXPLAIN (FORMAT JSON) SELECT * FROM ({query}) q", *args)
        if '"Seq Scan"' in plan and '"photo_requests"' in plan:
            scanned.append(json.dumps(json.loads(plan)[0]["Plan"])[:200])
    return scanned


@pytest.mark.parametrize(
    "filters",
    [
        Filters(q="INT", oc="ZZZZ"),
        Filters(q="INT", oc="OCAA", status="failed"),
        Filters(q="INT", kind="reused_photo"),
    ],
    ids=["unknown-oc", "no-such-status", "no-such-finding"],
)
async def test_a_search_within_empty_filters_reads_no_reference_range(
    db: asyncpg.Pool, filters: Filters
) -> None:
    await _seed_many(db)
    ran = await _queries(db, filters)
    assert not [query for query, _ in ran if "~>=~" in query], "the prefix's range is not read"
    assert await _seq_scans(db, ran) == []


async def test_a_search_within_filters_that_match_still_finds(db: asyncpg.Pool) -> None:
    await seed.request(db, reference="INT-WANTED", status="failed")
    async with db.acquire() as conn:
        page = await list_requests(conn, Filters(q="INT", status="failed"))  # type: ignore[arg-type]
    assert [row["reference_commande_sous_traitant_oi"] for row in page.rows] == ["INT-WANTED"]


async def test_a_search_in_another_case_reads_the_lower_case_indexes(db: asyncpg.Pool) -> None:
    """`int-12` finds INT-12, INT-120...: each reference column read as a range of its
    lower-case index (migration 0024), never a scan of the table."""
    await _seed_many(db)
    ran: list[tuple[str, tuple[Any, ...]]] = []

    def record(query: Any) -> None:
        ran.append((query.query, query.args))

    async with db.acquire() as conn:
        conn.add_query_logger(record)
        try:
            page = await list_requests(conn, Filters(q="int-12"))  # type: ignore[arg-type]
        finally:
            conn.remove_query_logger(record)
    found = [row["reference_commande_sous_traitant_oi"] for row in page.rows]
    assert found[:3] == ["INT-12", "INT-120", "INT-1200"]
    assert len(found) == 50  # a page of the 111: INT-12, INT-12n, INT-12nn
    assert page.next_cursor is not None
    # The rows' hydration by messageId may scan 5000 rows; on a million it is a key lookup.
    searched = [(query, args) for query, args in ran if "~>=~" in query]
    assert len(searched) == 1
    assert await _seq_scans(db, searched) == []
    plan = await db.fetchval(f"EXPLAIN (FORMAT JSON) {searched[0][0]}", *searched[0][1])
    for index in ("intervention", "order", "access"):
        assert f'"photo_requests_ref_{index}_lower"' in plan, index
