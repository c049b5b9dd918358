"""The breaker's probe goes to a request that calls the OC, and a closure that holds a request
past its max_wait still leaves it the last chance the deadline promises."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from tests.harness import Broker, StartWorker, cr_stoc, wait_for_status
from tests.services import wait_until
from worker.simulator import Simulator

pytestmark = pytest.mark.services


def _asked(simulator: Simulator) -> list[str | None]:
    return [c.reference for c in simulator.calls if c.operation == "getPhotosByIntervention"]


async def test_a_probe_is_not_spent_on_a_request_past_its_deadline(
    start_worker: StartWorker, simulator: Simulator, broker: Broker, db: asyncpg.Pool
) -> None:
    # The breaker opened long ago; its cool-down is over: the next claim pass takes the probe.
    await db.execute(
        "INSERT INTO partner_limits (code_oc, failures, breaker_until)"
        " VALUES ('OCAA', 3, now() - interval '1 second')"
    )
    # First in line: a request whose last chance was interrupted days ago (it ends, no call).
    doomed = uuid.uuid4()
    await db.execute(
        "INSERT INTO photo_requests (message_id, code_oc, reference_commande_sous_traitant_oi,"
        " received_at, next_attempt_at, attempts, interruptions, last_http_status)"
        " VALUES ($1, 'OCAA', 'DOOMED-1', now() - interval '3 days', now() - interval '1 hour',"
        " 5, 1, 202)",
        doomed,
    )
    breaker = {"breaker": {"failures": 3, "cooldown": "1h"}, "max_wait": "1d", "spread": "1s"}
    await start_worker(OCAA=breaker)
    assert (await wait_for_status(db, str(doomed)))["status"] == "expired"

    async def probe_back() -> bool:
        return bool(await db.fetchval("SELECT breaker_until <= now() FROM partner_limits"))

    # The probe was not spent on it: the cool-down is over again, not pushed on by an hour...
    await wait_until(probe_back, what="the unspent probe back")
    healthy = cr_stoc(intervention="PROBED-1:photos=1")
    await broker.publish(healthy)
    # ...so the next request takes it, the OC answers, and the breaker closes.
    row = await wait_for_status(db, healthy["messageId"], timeout=30)
    assert row["status"] == "completed"
    assert _asked(simulator) == ["PROBED-1:photos=1"]
    assert await db.fetchval("SELECT breaker_until FROM partner_limits") is None


async def test_a_request_held_by_a_closure_past_its_max_wait_gets_its_last_chance(
    start_worker: StartWorker, simulator: Simulator, broker: Broker, db: asyncpg.Pool
) -> None:
    now: datetime = await db.fetchval("SELECT clock_timestamp()")
    start = now.astimezone(UTC).replace(tzinfo=None, microsecond=0)
    reopens = start + timedelta(seconds=8)  # past max_wait (1 s) and a lease (3 s) after it
    hours = {
        "timezone": "UTC",
        "closed": [f"{start - timedelta(minutes=1)}/{reopens}".replace(" ", "T")],
    }
    await start_worker(OCAA={"hours": hours, "max_wait": "1s", "spread": "1s"})
    message = cr_stoc(intervention="HELD-1:photos=1")
    await broker.publish(message)

    row = await wait_for_status(db, message["messageId"], timeout=40)
    assert row["status"] == "completed", row["last_error"]
    assert _asked(simulator) == ["HELD-1:photos=1"]
    first = min(c.wall for c in simulator.calls)
    assert first >= reopens.replace(tzinfo=UTC).timestamp() - 0.05  # after the closure


async def test_a_request_larger_than_a_day_s_quota_keeps_each_day_s_photos_and_completes(
    start_worker: StartWorker, simulator: Simulator, broker: Broker, db: asyncpg.Pool
) -> None:
    worker = await start_worker(OCAA={"quota": {"calls": 4, "timezone": "UTC"}})
    message = cr_stoc(intervention="BIG-1:photos=6")  # 7 calls: the metadata and 6 photos
    message_id = uuid.UUID(message["messageId"])
    await broker.publish(message)

    async def held_for_tomorrow() -> bool:
        return bool(
            await db.fetchval(
                "SELECT lease_id IS NULL AND next_attempt_at > now() + interval '1 minute'"
                " FROM photo_requests WHERE message_id = $1",
                message_id,
            )
        )

    async def photos_kept() -> int:
        return int(
            await db.fetchval(
                "SELECT count(*) FROM photo_request_photos WHERE message_id = $1", message_id
            )
        )

    await wait_until(held_for_tomorrow, timeout=20, what="the request held for the next day")
    assert await photos_kept() == 3  # the day's metadata call and 3 photos, kept
    row = await db.fetchrow("SELECT * FROM photo_requests")
    assert "more than the daily quota of 4" in row["last_error"]
    # The next day: the rest of the photos, without the first three again.
    await db.execute("UPDATE partner_limits SET quota_day = quota_day - 1")
    await db.execute("UPDATE photo_requests SET next_attempt_at = now()")
    row = await wait_for_status(db, message["messageId"])
    assert row["status"] == "completed"
    assert await photos_kept() == 6
    photos = [c for c in simulator.calls if c.operation == "getPhoto"]
    assert len(photos) == len({c.photo_id for c in photos}) == 6  # none downloaded twice
    assert worker.metrics.over_quota.labels("OCAA")._value.get() == 1
