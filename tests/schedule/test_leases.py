"""Leases under locks: a renewal held up by a lock never lets two workers run one request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from tests.schedule.replicas import Book, Replica, insert, replica_settings
from tests.services import wait_until
from worker.schedule import claims

pytestmark = pytest.mark.services


@pytest.fixture
async def locker(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


async def test_a_renewal_held_by_a_lock_never_lets_a_second_replica_run_the_request(
    db: asyncpg.Pool, database_url: str, amqp_url: str, tmp_path: Path, locker: asyncpg.Connection
) -> None:
    book = Book()
    (message_id,) = await insert(db)
    first = Replica(replica_settings(database_url, amqp_url, tmp_path, "first"), db, book).start()
    second = Replica(replica_settings(database_url, amqp_url, tmp_path, "second"), db, book)

    async def started(n: int) -> bool:
        return len(book.started) >= n

    try:
        await wait_until(lambda: started(1), what="the first replica's attempt")
        first.claiming.set()  # it only renews from now on: the request may only go elsewhere
        # A lock held longer than a lease (an index build, a pg_repack swap): the renewal waits.
        lock = locker.transaction()
        await lock.start()
        await locker.execute(
            "SELECT 1 FROM photo_requests WHERE message_id = $1 FOR UPDATE", message_id
        )

        async def a_lease_past() -> bool:
            return bool(
                await db.fetchval(
                    "SELECT clock_timestamp() > next_attempt_at + make_interval(secs => 2.5)"
                    " FROM photo_requests WHERE message_id = $1",
                    message_id,
                )
            )

        await wait_until(a_lease_past, timeout=30, what="the lease end a lease behind")
        second.start()
        await lock.commit()
        await wait_until(lambda: started(2), timeout=30, what="the request's next attempt")
        assert book.overlaps == []  # the first had stopped before anyone else started
        assert first.metrics.lease_lost._value.get() >= 1
    finally:
        book.end.set()
        await first.stop()
        await second.stop()


async def test_a_renewal_that_waited_on_a_lock_past_its_lease_is_lost_and_given_back(
    db: asyncpg.Pool, locker: asyncpg.Connection
) -> None:
    (message_id,) = await insert(db)
    [claim] = await claims.claim_due(db, {"OCAA": 1}, {"OCAA": 3600.0}, 1, 1.0, "here")
    lock = locker.transaction()
    await lock.start()
    await locker.execute(
        "SELECT 1 FROM photo_requests WHERE message_id = $1 FOR UPDATE", message_id
    )
    renewal = asyncio.create_task(claims.renew_leases(db, [claim.lease_id], 1.0))

    async def renewal_waits_past_a_lease() -> bool:
        return bool(
            await db.fetchval(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                "  AND query LIKE 'UPDATE photo_requests SET next_attempt_at%')"
                " AND clock_timestamp() > (SELECT next_attempt_at + interval '2 s'"
                "  FROM photo_requests WHERE message_id = $1)",
                message_id,
            )
        )

    await wait_until(renewal_waits_past_a_lease, what="the renewal waiting two leases")
    await lock.commit()
    # Reported lost (it came too late to be trusted) and given back, due at once: never kept
    # with an end that another worker's claim would find already past.
    assert await renewal == set()
    row = await db.fetchrow(
        "SELECT lease_id, next_attempt_at <= clock_timestamp() AS due FROM photo_requests"
        " WHERE message_id = $1",
        message_id,
    )
    assert row["lease_id"] is None
    assert row["due"]
