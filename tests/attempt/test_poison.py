"""A hostile partner cannot wedge a request: what it says is made safe to store, and every
request reaches a final status with its event, whatever its attempts run into."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from tests.harness import STATIC_TOKEN, Broker, InProcessWorker, StartWorker, cr_stoc
from tests.services import wait_until

pytestmark = pytest.mark.services


async def _photos(db: asyncpg.Pool, message_id: str) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT p.* FROM photos p JOIN photo_request_photos l USING (code_oc, photo_id)"
        " WHERE l.message_id = $1 ORDER BY p.photo_id",
        uuid.UUID(message_id),
    )


async def _event(broker: Broker, message_id: str) -> dict[str, object]:
    events = await wait_until(
        lambda: _events(broker, message_id), timeout=20, what=f"the event of {message_id}"
    )
    assert len(events) == 1
    return events[0]


async def _events(broker: Broker, message_id: str) -> list[dict[str, object]]:
    return broker.events_for(message_id)


async def test_nul_and_surrogates_in_records_are_stored_replaced(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    message = cr_stoc(intervention="POISON-TEXT:photos=2:poison=text")
    row = await broker.run(db, message)
    assert row["status"] == "completed"
    photos = await _photos(db, message["messageId"])
    assert len(photos) == 2
    for photo in photos:
        for column in ("name", "title", "description", "projection"):
            assert "\ufffd" in photo[column]
            assert "\x00" not in photo[column]
    assert (await _event(broker, message["messageId"]))["status"] == "completed"


async def test_integers_beyond_their_columns_are_left_out_and_said(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    message = cr_stoc(intervention="POISON-NUMBERS:photos=2:format=png:poison=numbers,pngwidth")
    row = await broker.run(db, message)
    assert row["status"] == "completed"
    for photo in await _photos(db, message["messageId"]):
        assert photo["declared_width"] is None
        assert photo["declared_height"] is None
        assert photo["declared_size"] is None
        assert photo["width"] is None  # the PNG header declares 2^31 + 1
        assert photo["height"] is not None
        said = "; ".join(photo["anomalies"])
        assert f"width: declared {2**31 + 7}" in said
        assert str(2**31 + 1) in said
    assert (await _event(broker, message["messageId"]))["status"] == "completed"


async def test_a_nul_in_an_error_body_ends_in_last_error_replaced(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    flaky = cr_stoc(intervention="POISON-BODY-1:errors=1:code=503:poison=errbody")
    denied = cr_stoc(intervention="POISON-BODY-2:status=403:poison=errbody")
    assert (await broker.run(db, flaky))["status"] == "completed"
    row = await broker.run(db, denied)
    assert row["status"] == "failed"
    assert "NUL here" in row["last_error"]
    assert "\x00" not in row["last_error"]
    errors = await db.fetch("SELECT error FROM request_attempts WHERE error IS NOT NULL")
    assert len(errors) == 2
    assert all("\ufffd NUL here" in r["error"] for r in errors)
    assert "NUL here" in str((await _event(broker, denied["messageId"]))["error"])


async def test_a_gateway_echoing_the_token_does_not_leak_it(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    message = cr_stoc(intervention="POISON-ECHO:status=403:poison=echo")
    row = await broker.run(db, message)
    assert row["status"] == "failed"
    assert "Authorization" in row["last_error"]
    assert STATIC_TOKEN not in row["last_error"]
    assert "[REDACTED]" in row["last_error"]
    event = await _event(broker, message["messageId"])
    assert STATIC_TOKEN not in str(event)
    attempts = await db.fetch("SELECT error FROM request_attempts")
    assert all(STATIC_TOKEN not in (r["error"] or "") for r in attempts)


@pytest.mark.parametrize("when", ["far", "past"])
async def test_a_retry_after_date_out_of_range_or_past_is_no_advice(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool, when: str
) -> None:
    message = cr_stoc(intervention=f"POISON-DATE-{when}:after=2:retry_after={when}")
    row = await broker.run(db, message)
    assert row["status"] == "completed"
    assert row["attempts"] == 3


async def test_a_poisoned_reschedule_fails_alone_in_its_batch(
    start_worker: StartWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    # A constraint of this test's database stands for any value PostgreSQL refuses in an outcome.
    await db.execute(
        "ALTER TABLE request_attempts ADD CONSTRAINT no_poison"
        " CHECK (coalesce(error, '') NOT LIKE '%RESCHEDULE-POISON%')"
    )
    flaky = [cr_stoc(intervention=f"RESCHEDULE-OK-{i}:errors=1:code=503") for i in range(8)]
    poison = cr_stoc(intervention="RESCHEDULE-POISON:errors=1:code=503")
    for message in [*flaky[:4], poison, *flaky[4:]]:
        await broker.publish(message)
    await start_worker()  # all arrive together: their polls are claimed and written back together
    for message in flaky:
        assert (await broker.run(db, message))["status"] == "completed"
    row = await broker.run(db, poison)
    assert row["status"] == "failed"
    assert "could not be recorded" in row["last_error"]
    assert "no_poison" in row["last_error"]
    assert (await _event(broker, poison["messageId"]))["status"] == "failed"


async def test_a_refused_final_outcome_still_ends_the_request(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    await db.execute(
        "ALTER TABLE photos ADD CONSTRAINT no_poison CHECK (name NOT LIKE 'FINISH-POISON%')"
    )
    message = cr_stoc(intervention="FINISH-POISON:photos=2")
    row = await broker.run(db, message)
    assert row["status"] == "failed"
    assert "could not be recorded" in row["last_error"]
    event = await _event(broker, message["messageId"])
    assert event["status"] == "failed"
    assert await db.fetchval("SELECT count(*) FROM photos") == 0


_CRASH = """
CREATE FUNCTION crash() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.reference LIKE 'CRASH%' THEN RAISE EXCEPTION 'the outcome statement broke'; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER crash BEFORE INSERT ON request_attempts FOR EACH ROW EXECUTE FUNCTION crash();
"""


async def test_attempts_interrupted_too_often_end_the_request(
    start_worker: StartWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    # Not a data error: the worker takes it for an outage and tries again at the next lease.
    await db.execute(_CRASH)
    await start_worker({"lease_seconds": 1, "max_interruptions": 3})
    message = cr_stoc(intervention="CRASH-1:after=never")
    row = await broker.run(db, message, timeout=30)
    assert row["status"] == "failed"
    assert "interrupted 3 times in a row" in row["last_error"]
    assert "the outcome statement broke" in row["last_error"]
    assert row["attempts"] == 4  # three interrupted, then the one that ended it
    assert (await _event(broker, message["messageId"]))["status"] == "failed"


async def test_the_deadline_ends_a_request_whose_attempts_keep_breaking(
    start_worker: StartWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    await db.execute(_CRASH)
    await start_worker({"lease_seconds": 1, "max_interruptions": 1000}, OCAA={"max_wait": "2s"})
    message = cr_stoc(intervention="CRASH-2:after=never")
    row = await broker.run(db, message, timeout=30)
    assert row["status"] == "failed"
    assert "max_wait 2s reached" in row["last_error"]
    assert (await _event(broker, message["messageId"]))["status"] == "failed"
