"""The durable schedule: deadlines, restarts, and OCs that cannot starve each other."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from tests.harness import (
    Broker,
    InProcessWorker,
    StartWorker,
    cr_stoc,
    load_test_partners,
    make_settings,
    wait_for_status,
)
from tests.services import wait_until
from worker.border import Redactor, Sanitizer
from worker.observe.metrics import Metrics
from worker.schedule.claims import Claim
from worker.schedule.scheduler import Scheduler

pytestmark = pytest.mark.services


async def _attempted(db: asyncpg.Pool, message_id: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        "SELECT * FROM request_attempts WHERE message_id = $1 ORDER BY attempt LIMIT 1",
        uuid.UUID(message_id),
    )


async def test_still_202_after_max_wait_is_expired(
    start_worker: StartWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    await start_worker(OCAA={"max_wait": "2s"})
    row = await broker.run(db, cr_stoc(intervention="WAIT:after=never"))
    assert row["status"] == "expired"
    assert row["last_http_status"] == 202
    waited = (row["completed_at"] - row["received_at"]).total_seconds()
    assert 2 <= waited < 4
    assert row["attempts"] >= 3


async def test_transient_errors_past_max_wait_fail(
    start_worker: StartWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    await start_worker(OCAA={"max_wait": "1s"})
    row = await broker.run(db, cr_stoc(intervention="DOWN:status=502"))
    assert row["status"] == "failed"
    assert "502" in row["last_error"]
    assert "max_wait 1s reached" in row["last_error"]


async def test_waiting_request_survives_a_restart(
    start_worker: StartWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    slow = {"retry_initial_seconds": 1.0, "retry_max_seconds": 1.0}
    worker = await start_worker(slow)
    message = cr_stoc(intervention="RESTART:after=2")
    await broker.publish(message)
    await wait_until(lambda: _attempted(db, message["messageId"]), what="a first 202")
    await worker.stop()

    waiting = await db.fetchrow(
        "SELECT * FROM photo_requests WHERE message_id = $1", uuid.UUID(message["messageId"])
    )
    assert waiting["status"] == "pending"
    assert waiting["next_attempt_at"] > waiting["received_at"]
    assert waiting["lease_id"] is None

    await start_worker(slow)
    done = await wait_for_status(db, message["messageId"])
    assert done["status"] == "completed"
    assert done["attempts"] == 3


async def test_a_slow_oc_does_not_starve_the_others(
    start_worker: StartWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    await start_worker({"concurrency": 4}, OCAA={"concurrency": 2}, OCBB={"concurrency": 2})
    slow = [cr_stoc("OCAA", intervention=f"SLOW-{i}:delay=4000") for i in range(6)]
    fast = [cr_stoc("OCBB", intervention=f"FAST-{i}:photos=1") for i in range(6)]
    for message in slow + fast:
        await broker.publish(message)
    for message in fast:
        row = await wait_for_status(db, message["messageId"], timeout=10)
        assert row["status"] == "completed"
    still_slow = await db.fetchval(
        "SELECT count(*) FROM photo_requests WHERE code_oc = 'OCAA' AND status = 'pending'"
    )
    assert still_slow >= 4


async def test_next_attempt_is_recorded_for_operators(
    start_worker: StartWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    await start_worker({"retry_initial_seconds": 30.0, "retry_max_seconds": 60.0})
    message = cr_stoc(intervention="LATER:after=5")
    await broker.publish(message)
    attempt = await wait_until(lambda: _attempted(db, message["messageId"]), what="a 202")
    assert attempt["outcome"] == "retry:not_ready"
    wait = (attempt["next_attempt_at"] - datetime.now(UTC)).total_seconds()
    assert 10 < wait <= 30  # first step: between half and all of the initial delay


async def test_retry_after_sets_the_next_attempt(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    message = cr_stoc(intervention="HINTED:after=1:retry_after=40")
    await broker.publish(message)
    attempt = await wait_until(lambda: _attempted(db, message["messageId"]), what="a 202")
    wait = (attempt["next_attempt_at"] - attempt["finished_at"]).total_seconds()
    assert 40 <= wait <= 44  # the partner's hint, plus at most 10 % of jitter


async def test_while_intake_reads_a_backlog_claims_are_made_once_per_poll(
    db: asyncpg.Pool, database_url: str, amqp_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, amqp_url, tmp_path, poll_seconds=2.0, lease_seconds=60)
    partners = load_test_partners(settings, "http://127.0.0.1:9", OCAA={"concurrency": 4})
    await db.execute(
        "INSERT INTO photo_requests (message_id, code_oc, reference_commande_sous_traitant_oi,"
        " next_attempt_at) SELECT gen_random_uuid(), 'OCAA', 'R-' || i, now()"
        " FROM generate_series(1, 20) AS i"
    )
    started: list[Claim] = []

    async def run(claim: Claim) -> None:
        started.append(claim)  # ends at once: its slot is free again

    scheduler = Scheduler(
        db, settings, Metrics(), partners, run, Sanitizer(Redactor(())), random.Random(1)
    )
    backlog = [True]
    scheduler.hold = lambda: backlog[0]
    stop = asyncio.Event()
    task = asyncio.create_task(scheduler.run(stop))

    async def count(n: int) -> bool:
        return len(started) >= n

    try:
        # The first claim: the OC's 4 free slots and 4 more in hand, started as slots free.
        await wait_until(lambda: count(8), what="the first claim")
        await asyncio.sleep(0.5)  # freed slots do not bring a claim before the next poll
        assert len(started) == 8
        backlog[0] = False
        scheduler.wake()
        await wait_until(lambda: count(20), what="the rest, claimed as usual")
    finally:
        stop.set()
        await task
