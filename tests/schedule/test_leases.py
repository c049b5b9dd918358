"""Leases under locks: a renewal held up by a lock never lets two workers run one request."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.harness import load_test_partners, make_settings
from tests.services import wait_until
from worker.border import Redactor, Sanitizer
from worker.observe.metrics import Metrics
from worker.schedule import claims
from worker.schedule.claims import Claim
from worker.schedule.scheduler import Scheduler
from worker.settings import Settings

pytestmark = pytest.mark.services


class Replica:
    """A scheduler whose attempts hold on until told to end, noting who runs what."""

    def __init__(self, settings: Settings, db: asyncpg.Pool, book: Book) -> None:
        partners = load_test_partners(settings, "http://127.0.0.1:9", OCAA={"concurrency": 1})
        self.metrics = Metrics()
        self.scheduler = Scheduler(
            db, settings, self.metrics, partners, book.run, Sanitizer(Redactor(())), random.Random()
        )
        self._stop = asyncio.Event()
        self.claiming = asyncio.Event()  # set: no more claims
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> Replica:
        self._tasks = [
            asyncio.create_task(self.scheduler.run(self.claiming)),
            asyncio.create_task(self.scheduler.renew_leases(self._stop)),
        ]
        return self

    async def stop(self) -> None:
        self.claiming.set()
        self._stop.set()
        await self.scheduler.drain(0)
        await asyncio.gather(*self._tasks)


class Book:
    """Which requests are being run, and every time two ran one request at once."""

    def __init__(self) -> None:
        self.running: set[uuid.UUID] = set()
        self.started: list[Claim] = []
        self.overlaps: list[uuid.UUID] = []
        self.end = asyncio.Event()

    async def run(self, claim: Claim) -> None:
        if claim.message_id in self.running:
            self.overlaps.append(claim.message_id)
        self.running.add(claim.message_id)
        self.started.append(claim)
        try:
            await self.end.wait()
        finally:
            self.running.discard(claim.message_id)


@pytest.fixture
async def locker(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


async def _insert(db: asyncpg.Pool, count: int = 1) -> list[uuid.UUID]:
    rows = await db.fetch(
        "INSERT INTO photo_requests (message_id, code_oc, reference_commande_sous_traitant_oi,"
        " next_attempt_at) SELECT gen_random_uuid(), 'OCAA', 'R-' || i, now()"
        " FROM generate_series(1, $1::int) AS i RETURNING message_id",
        count,
    )
    return [row["message_id"] for row in rows]


def _settings(
    database_url: str, amqp_url: str, tmp_path: Path, name: str, **extra: Any
) -> Settings:
    (tmp_path / name).mkdir(exist_ok=True)
    values: dict[str, Any] = {"lease_seconds": 2, "poll_seconds": 0.05, "instance": name}
    return make_settings(database_url, amqp_url, tmp_path / name, **(values | extra))


async def test_a_renewal_held_by_a_lock_never_lets_a_second_replica_run_the_request(
    db: asyncpg.Pool, database_url: str, amqp_url: str, tmp_path: Path, locker: asyncpg.Connection
) -> None:
    book = Book()
    (message_id,) = await _insert(db)
    first = Replica(_settings(database_url, amqp_url, tmp_path, "first"), db, book).start()
    second = Replica(_settings(database_url, amqp_url, tmp_path, "second"), db, book)

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
    (message_id,) = await _insert(db)
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
