"""The durable schedule: deadlines, restarts, and OCs that cannot starve each other."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from tests.harness import Broker, InProcessWorker, StartWorker, cr_stoc, wait_for_status
from tests.services import wait_until

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
