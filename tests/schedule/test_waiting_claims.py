"""Claims waiting in a process's hand: they cost their request nothing until they start, start
only on a lease that still holds and an OC that may be called, and do not idle there."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from tests.harness import Broker, cr_stoc, load_test_partners, make_settings
from tests.process import ProcessFactory
from tests.schedule.replicas import Book, Replica, insert, replica_settings
from tests.services import wait_until
from worker.limits.gate import PartnerGate
from worker.limits.gatekeeper import Gatekeeper
from worker.schedule import claims
from worker.simulator import Simulator

pytestmark = pytest.mark.services


async def _leased(db: asyncpg.Pool, message_ids: list[uuid.UUID]) -> bool:
    count = await db.fetchval(
        "SELECT count(*) FROM photo_requests WHERE message_id = ANY($1) AND lease_id IS NOT NULL",
        message_ids,
    )
    return bool(count == len(message_ids))


async def _row(db: asyncpg.Pool, message_id: uuid.UUID) -> asyncpg.Record:
    row = await db.fetchrow(
        "SELECT *, next_attempt_at <= clock_timestamp() AS due FROM photo_requests"
        " WHERE message_id = $1",
        message_id,
    )
    assert row is not None
    return row


async def _one_running_one_waiting(
    db: asyncpg.Pool, book: Book, replica: Replica
) -> tuple[uuid.UUID, uuid.UUID]:
    """Two due requests for a replica with one slot: the first runs, the second waits."""
    first, second = await insert(db, 2)
    await wait_until(lambda: _leased(db, [first, second]), what="both claimed")
    await wait_until(lambda: _true(bool(book.started)), what="the first attempt")
    assert [claim.message_id for _, claim in book.started] == [first]
    return first, second


async def _true(value: bool) -> bool:
    return value


async def test_claims_waiting_at_shutdown_go_back_at_once_with_their_attempt_unspent(
    db: asyncpg.Pool, database_url: str, amqp_url: str, tmp_path: Path
) -> None:
    book = Book()
    settings = replica_settings(database_url, amqp_url, tmp_path, "leaving", lease_seconds=30)
    replica = Replica(settings, db, book).start()
    first, second = await _one_running_one_waiting(db, book, replica)
    replica.claiming.set()
    drain = asyncio.create_task(replica.scheduler.drain(60))  # a long grace for the first

    async def back() -> bool:
        row = await _row(db, second)
        return row["lease_id"] is None

    try:
        await wait_until(back, timeout=10, what="the waiting claim given back during the grace")
        row = await _row(db, second)
        assert row["due"]
        assert row["attempts"] == 0  # it never started
        assert (await _row(db, first))["attempts"] == 1
        assert not drain.done()  # the running attempt still has its grace
    finally:
        book.end.set()
        await drain
        await replica.stop()


async def test_a_due_request_does_not_idle_in_a_busy_replica_while_another_has_room(
    db: asyncpg.Pool, database_url: str, amqp_url: str, tmp_path: Path
) -> None:
    book = Book()
    # Long enough that a slow renewal on a busy machine does not end the running attempt.
    lease = {"lease_seconds": 6}
    busy = Replica(replica_settings(database_url, amqp_url, tmp_path, "busy", **lease), db, book)
    busy.start()
    idle = Replica(replica_settings(database_url, amqp_url, tmp_path, "idle", **lease), db, book)
    try:
        _, second = await _one_running_one_waiting(db, book, busy)
        idle.start()
        await wait_until(
            lambda: _true(second in book.by("idle")), timeout=15, what="the other replica to run it"
        )
        assert (await _row(db, second))["attempts"] == 1  # the wait in the busy one cost nothing
        assert book.overlaps == []
    finally:
        book.end.set()
        await busy.stop()
        await idle.stop()


async def test_a_waiting_claim_whose_lease_was_lost_does_not_start(
    db: asyncpg.Pool, database_url: str, amqp_url: str, tmp_path: Path
) -> None:
    book = Book()
    settings = replica_settings(database_url, amqp_url, tmp_path, "slow", lease_seconds=30)
    replica = Replica(settings, db, book).start(renew=False)  # nothing tells it before it starts
    try:
        first, second = await _one_running_one_waiting(db, book, replica)
        replica.claiming.set()
        # Its lease ran out (a renewal held up) and another replica claimed and runs it.
        await db.execute(
            "UPDATE photo_requests SET lease_id = gen_random_uuid(), lease_owner = 'other'"
            " WHERE message_id = $1",
            second,
        )
        book.let_end(first)  # a slot frees: the waiting claim would start

        async def settled() -> bool:
            return second in book.by("slow") or replica.metrics.lease_lost._value.get() >= 1

        await wait_until(settled, what="the waiting claim started or dropped")
        assert second not in book.by("slow")
        assert (await _row(db, second))["lease_owner"] == "other"
    finally:
        book.end.set()
        await replica.stop()


async def test_a_waiting_claim_does_not_start_in_a_closure_that_began_after_its_claim(
    db: asyncpg.Pool, database_url: str, amqp_url: str, tmp_path: Path
) -> None:
    book = Book()
    now: datetime = await db.fetchval("SELECT clock_timestamp()")
    closes = now.astimezone(UTC).replace(tzinfo=None, microsecond=0) + timedelta(seconds=3)
    reopens = closes + timedelta(hours=1)
    hours = {"timezone": "UTC", "closed": [f"{closes.isoformat()}/{reopens.isoformat()}"]}
    settings = replica_settings(database_url, amqp_url, tmp_path, "hours", lease_seconds=30)
    replica = Replica(settings, db, book, hours=hours, spread="1s")
    config = replica.partners["OCAA"].config
    gatekeeper = Gatekeeper(
        db, {"OCAA": PartnerGate("OCAA", config, db, replica.metrics)}, replica.metrics
    )
    await gatekeeper.open()
    replica.scheduler.admit = gatekeeper.admit
    replica.scheduler.holds = gatekeeper.holds
    replica.scheduler.claimed = gatekeeper.claimed
    replica.start(renew=False)
    try:
        first, second = await _one_running_one_waiting(db, book, replica)
        replica.claiming.set()

        async def closed() -> bool:
            at: datetime = await db.fetchval("SELECT clock_timestamp()")
            return at.replace(tzinfo=None) > closes + timedelta(seconds=0.2)

        await wait_until(closed, what="the closure to begin")
        book.let_end(first)

        async def back() -> bool:
            return (await _row(db, second))["lease_id"] is None or second in book.by("hours")

        await wait_until(back, what="the waiting claim started or given back")
        assert second not in book.by("hours")
        row = await _row(db, second)
        assert row["next_attempt_at"].replace(tzinfo=None) >= reopens
        assert row["attempts"] == 0
    finally:
        book.end.set()
        await replica.stop()


async def test_the_waiting_claims_of_a_killed_process_cost_their_requests_nothing(
    spawn: ProcessFactory,
    database_url: str,
    amqp_url: str,
    tmp_path: Path,
    simulator: Simulator,
    broker: Broker,
    db: asyncpg.Pool,
) -> None:
    settings = make_settings(database_url, amqp_url, tmp_path, lease_seconds=5)
    load_test_partners(settings, simulator.base_url, OCAA={"concurrency": 1})
    worker = spawn(settings, "killed")
    messages = [cr_stoc(intervention=f"KILLED-{i}:delay=600000") for i in range(2)]
    ids = [uuid.UUID(m["messageId"]) for m in messages]
    for message in messages:
        await broker.publish(message)

    async def one_asked_both_held() -> bool:
        asked = [c for c in simulator.calls if c.operation == "getPhotosByIntervention"]
        return bool(asked) and await _leased(db, ids)

    try:
        await wait_until(one_asked_both_held, timeout=30, what="one attempt, one waiting claim")
    finally:
        worker.kill()
    [asked] = [c.reference for c in simulator.calls if c.operation == "getPhotosByIntervention"]
    ran = ids[[m["referenceCommandeSousTraitantOI"] for m in messages].index(asked)]

    async def lease_over() -> bool:
        return bool(
            await db.fetchval(
                "SELECT bool_and(next_attempt_at <= now()) FROM photo_requests"
                " WHERE message_id = ANY($1)",
                ids,
            )
        )

    await wait_until(lease_over, what="the killed process's leases to end")
    again = await claims.claim_due(db, {"OCAA": 2}, {"OCAA": 3600.0}, 2, 30.0, "next")
    counts = {claim.message_id: (claim.attempt, claim.interruptions) for claim in again}
    (waited,) = set(ids) - {ran}
    assert counts[ran] == (2, 1)  # its attempt was cut: an interruption
    assert counts[waited] == (1, 0)  # never tried: this is its first attempt, nothing cut
