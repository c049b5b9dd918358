"""Publishes nothing routes are not taken for delivered: events wait in the outbox, and a dead
letter whose queue is missing keeps its original until the copy is confirmed."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from tests.harness import Broker, InProcessWorker, cr_stoc, wait_for_status
from tests.services import wait_until
from worker.events.topology import DEAD_QUEUE, EXCHANGE

pytestmark = pytest.mark.services


async def _outbox(db: asyncpg.Pool, message_id: str) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT * FROM outbox WHERE message_id = $1", uuid.UUID(message_id))


async def test_an_event_no_queue_takes_stays_in_the_outbox_until_one_does(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    exchange = await broker.channel.get_exchange(EXCHANGE)
    await broker.events_queue.unbind(exchange, "photos.*")
    message = cr_stoc(intervention="NOBODY-LISTENS:photos=1")
    assert (await broker.run(db, message))["status"] == "completed"

    async def tried_twice() -> asyncpg.Record | None:
        row = await _outbox(db, message["messageId"])
        return row if row is not None and row["publish_attempts"] >= 2 else None

    row = await wait_until(tried_twice, what="two returned publishes")
    assert row["sent_at"] is None
    assert "unroutable" in row["last_error"]
    returned = worker.metrics.events_unroutable.labels("photos.completed")._value.get()
    assert returned >= 2

    await broker.events_queue.bind(exchange, "photos.*")
    await wait_until(lambda: _sent(db, message["messageId"]), what="the event to be sent")
    assert len(broker.events_for(message["messageId"])) == 1


async def _sent(db: asyncpg.Pool, message_id: str) -> bool:
    row = await _outbox(db, message_id)
    return row is not None and row["sent_at"] is not None


async def test_a_missing_dead_letter_queue_is_declared_again_and_nothing_is_lost(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    await broker.channel.queue_delete(DEAD_QUEUE)
    await broker.publish(b"{not json", message_id="lost-if-acked")
    later = cr_stoc(intervention="AFTER-MISSING-DLQ:photos=1")
    await broker.publish(later)

    assert (await wait_for_status(db, later["messageId"]))["status"] == "completed"
    dead = await wait_until(broker.dead_letters, what="the dead letter in the queue declared again")
    assert [m.message_id for m in dead] == ["lost-if-acked"]
    assert worker.metrics.messages_settled.labels("dead_lettered")._value.get() == 1
