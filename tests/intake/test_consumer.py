"""The consumer: bad input goes to the dead-letter queue with its reason; nothing blocks."""

from __future__ import annotations

import asyncio
import json
import uuid

import aio_pika
import asyncpg
import pytest

from tests.harness import (
    FINAL,
    Broker,
    InProcessWorker,
    StartWorker,
    cr_stoc,
    wait_for_status,
)
from tests.services import rabbitmqctl, wait_until
from worker.events.topology import EXCHANGE, INPUT_ROUTING_KEY
from worker.intake.consumer import Rate

pytestmark = pytest.mark.services


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def _dead(broker: Broker, count: int) -> list[object]:
    found: list[object] = []

    async def enough() -> bool:
        found.extend(await broker.dead_letters())
        return len(found) >= count

    await wait_until(enough, what=f"{count} dead letters")
    return found


@pytest.mark.parametrize(
    ("body", "reason", "named"),
    [
        (b"{not json", "not_json", "Invalid JSON"),
        (b"\xff\xfe\x00", "not_json", "Invalid JSON"),
        (json.dumps({**cr_stoc(), "codeOC": "ab"}).encode(), "invalid_fields", "codeOC"),
        (json.dumps({**cr_stoc(), "flux": "CR_MES"}).encode(), "invalid_fields", "flux"),
        (json.dumps({**cr_stoc(), "messageId": 42}).encode(), "invalid_fields", "messageId"),
        (json.dumps(cr_stoc(intervention=None)).encode(), "invalid_fields", "reference"),
        (json.dumps(cr_stoc(code_oc="ZZZZ")).encode(), "unknown_oc", "ZZZZ"),
    ],
)
async def test_bad_message_is_dead_lettered_with_its_reason(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool, body: bytes, reason: str, named: str
) -> None:
    await broker.publish(body, message_id="poison", headers={"x-trace": "abc"})
    later = cr_stoc(intervention="AFTER-POISON:photos=1")
    await broker.publish(later)

    [dead] = await _dead(broker, 1)
    assert dead.body == body  # type: ignore[attr-defined]
    headers = dead.headers  # type: ignore[attr-defined]
    assert _text(headers["x-dead-letter-reason"]) == reason
    assert named in _text(headers["x-dead-letter-detail"])
    assert _text(headers["x-original-routing-key"]) == "cr_stoc.completed"
    assert _text(headers["x-trace"]) == "abc"
    assert dead.message_id == "poison"  # type: ignore[attr-defined]
    # The queue is not blocked: the next message is processed.
    row = await wait_for_status(db, later["messageId"])
    assert row["status"] == "completed"
    assert await db.fetchval("SELECT count(*) FROM photo_requests") == 1
    assert await broker.queue_depth() == 0
    assert worker.metrics.messages_dead_lettered.labels(reason)._value.get() == 1
    [recorded] = await db.fetch("SELECT * FROM dead_letters")
    assert (recorded["message_id"], recorded["reason"]) == ("poison", reason)
    assert named in recorded["detail"]


async def test_duplicate_message_id_changes_nothing(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    first = cr_stoc(intervention="DUP:photos=2")
    await broker.publish(first)
    row = await wait_for_status(db, first["messageId"])
    await wait_until(lambda: _events(broker, first["messageId"]), what="the first event")

    second = {**first, "referenceCommandeSousTraitantOI": "OTHER:photos=5"}
    await broker.publish(second)
    await wait_until(lambda: _settled(worker, "duplicate"), what="the duplicate to be acked")

    again = await db.fetchrow(
        "SELECT * FROM photo_requests WHERE message_id = $1", row["message_id"]
    )
    assert dict(again) == dict(row)
    assert await db.fetchval("SELECT count(*) FROM photo_requests") == 1
    assert await db.fetchval("SELECT count(*) FROM photos") == 2
    assert await db.fetchval("SELECT count(*) FROM outbox") == 1
    assert len(broker.events_for(first["messageId"])) == 1
    assert await broker.queue_depth() == 0


async def _events(broker: Broker, message_id: str) -> bool:
    return bool(broker.events_for(message_id))


async def _settled(worker: InProcessWorker, outcome: str) -> bool:
    return bool(worker.metrics.messages_settled.labels(outcome)._value.get() >= 1)


async def test_many_messages_are_each_recorded_once(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    messages = [cr_stoc(intervention=f"MANY-{i}:photos=1") for i in range(30)]
    for message in messages:
        await broker.publish(message)
    for message in messages:
        assert (await wait_for_status(db, message["messageId"]))["status"] == "completed"
    ids = [uuid.UUID(m["messageId"]) for m in messages]
    assert (
        await db.fetchval(
            "SELECT count(*) FROM photo_requests WHERE message_id = ANY($1::uuid[])", ids
        )
        == 30
    )
    assert await db.fetchval("SELECT count(*) FROM photo_request_photos") == 30


async def test_a_delivery_caught_by_a_reconnection_is_redelivered_not_lost(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool, amqp_url: str
) -> None:
    message = cr_stoc(intervention="OWNERSHIP:photos=1")
    async with db.acquire() as conn:
        # Hold intake inside its INSERT while the broker drops its connection.
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute("LOCK TABLE photo_requests IN ACCESS EXCLUSIVE MODE")
        await broker.publish(message)
        await wait_until(lambda: _received(worker), what="the delivery")
        rabbitmqctl("close_all_connections", "-p", amqp_url.rsplit("/", 1)[1], "test")
        await asyncio.sleep(0.5)  # let the worker see its channel close while it waits
        await transaction.rollback()

    broker = await Broker(amqp_url).open()
    try:
        row = await wait_for_status(db, message["messageId"], timeout=30)
        assert row["status"] == "completed"
        assert await db.fetchval("SELECT count(*) FROM photo_requests") == 1
        # The broker delivers it again once the worker has reconnected; it is a duplicate now.
        await wait_until(lambda: _settled(worker, "duplicate"), timeout=30, what="the redelivery")
        assert await _received(worker) == 2
        lost = worker.metrics.messages_settled.labels("lost_with_channel")._value.get()
        assert lost == 1  # and the first handling said so
        await wait_until(lambda: _queue_empty(broker), what="the queue to drain")
    finally:
        await broker.close()


async def _received(worker: InProcessWorker) -> int:
    return int(worker.metrics.messages_received._value.get())


async def _queue_empty(broker: Broker) -> bool:
    return await broker.queue_depth() == 0


async def _publish_burst_then_start(
    broker: Broker, start_worker: StartWorker, bodies: list[dict[str, object]]
) -> InProcessWorker:
    """Messages waiting in the queue when the worker starts arrive together: one batch."""
    for body in bodies:
        await broker.publish(body, message_id=str(body["messageId"]))
    return await start_worker()


async def test_a_nul_in_a_reference_is_refused_and_its_burst_goes_on(
    start_worker: StartWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    valid = [cr_stoc(intervention=f"BURST-{i}:photos=1") for i in range(10)]
    poison = cr_stoc(intervention="NUL\u0000HERE")
    poison["messageId"] = str(uuid.uuid4())
    await _publish_burst_then_start(broker, start_worker, [*valid[:5], poison, *valid[5:]])

    for message in valid:
        assert (await wait_for_status(db, message["messageId"]))["status"] == "completed"
    [dead] = await _dead(broker, 1)
    assert _text(dead.headers["x-dead-letter-reason"]) == "invalid_fields"  # type: ignore[attr-defined]
    [recorded] = await wait_until(lambda: db.fetch("SELECT * FROM dead_letters"))
    assert "control characters" in recorded["detail"]
    assert "\ufffd" in recorded["body_excerpt"] or "\\u0000" in recorded["body_excerpt"]


async def test_a_value_the_database_refuses_fails_alone_in_its_batch(
    start_worker: StartWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    # A constraint of this test's database stands for any value PostgreSQL refuses (SQLSTATE 23).
    await db.execute(
        "ALTER TABLE photo_requests ADD CONSTRAINT no_poison"
        " CHECK (reference_commande_sous_traitant_oi <> 'POISON')"
    )
    valid = [cr_stoc(intervention=f"BATCH-{i}:photos=1") for i in range(10)]
    poison = cr_stoc(intervention="POISON")
    worker = await _publish_burst_then_start(broker, start_worker, [*valid, poison])

    for message in valid:
        assert (await wait_for_status(db, message["messageId"]))["status"] == "completed"
    [dead] = await _dead(broker, 1)
    assert _text(dead.headers["x-dead-letter-reason"]) == "unstorable"  # type: ignore[attr-defined]
    assert "no_poison" in _text(dead.headers["x-dead-letter-detail"])  # type: ignore[attr-defined]
    assert worker.metrics.messages_settled.labels("requeued")._value.get() == 0
    [recorded] = await db.fetch("SELECT * FROM dead_letters")
    assert (recorded["message_id"], recorded["reason"]) == (poison["messageId"], "unstorable")


async def test_a_dead_letter_with_a_nul_in_its_id_is_recorded(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    await broker.publish(b"{broken", message_id="id\u0000with-nul")
    [dead] = await _dead(broker, 1)
    assert dead.message_id == "id\u0000with-nul"  # type: ignore[attr-defined]
    [recorded] = await wait_until(lambda: db.fetch("SELECT * FROM dead_letters"))
    assert recorded["message_id"] == "id\ufffdwith-nul"
    assert recorded["reason"] == "not_json"


async def test_deliveries_are_held_through_a_database_outage_not_given_back(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool, database_url: str
) -> None:
    name = database_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    messages = [cr_stoc(intervention=f"OUTAGE-{i}:photos=1") for i in range(5)]
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        for message in messages:
            await broker.publish(message)
        await wait_until(lambda: _received_at_least(worker, 5), what="the deliveries")
        await wait_until(lambda: _database_errors(worker, 5), what="inserts failing")
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
    await db.expire_connections()
    for message in messages:
        row = await wait_for_status(db, message["messageId"], timeout=30)
        assert row["status"] == "completed"
    settled = worker.metrics.messages_settled
    assert settled.labels("accepted")._value.get() == 5
    assert settled.labels("requeued")._value.get() == 0
    assert await _received(worker) == 5  # held, never given back to the broker
    assert await db.fetchval("SELECT count(*) FROM dead_letters") == 0


async def _received_at_least(worker: InProcessWorker, count: int) -> bool:
    return await _received(worker) >= count


async def _database_errors(worker: InProcessWorker, count: int) -> bool:
    return bool(worker.metrics.errors.labels("database")._value.get() >= count)


def test_the_recent_rate_counts_this_second_and_the_one_before() -> None:
    now = [100.2]
    rate = Rate(lambda: now[0])
    rate.add(600)
    rate.add(500)
    assert rate.recent() == 1100
    now[0] = 101.9  # the next second: the one before still counts
    rate.add(10)
    assert rate.recent() == 1100
    now[0] = 102.0
    assert rate.recent() == 10
    now[0] = 110.0  # seconds without a delivery: nothing recent
    assert rate.recent() == 0


def _styles(message: dict[str, object]) -> dict[str, aio_pika.Message]:
    """The same CR_STOC as common AMQP clients send it."""
    compact = json.dumps(message, separators=(",", ":")).encode()
    pretty = json.dumps(message, indent=2).replace("\n", "\r\n").encode()
    return {
        "spring_jackson": aio_pika.Message(
            compact,
            content_type="application/json",
            content_encoding="UTF-8",
            headers={"__TypeId__": "fr.oi.stoc.CrStoc"},
            priority=0,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        ),
        "amqplib_no_content_type": aio_pika.Message(compact),
        "pika_text_plain": aio_pika.Message(compact, content_type="text/plain"),
        "extra_properties": aio_pika.Message(
            compact,
            content_type="application/json",
            app_id="stoc-publisher",
            correlation_id="c-1",
            reply_to="nowhere",
            type="CR_STOC",
            message_id="amqp-level-id",
            timestamp=1_700_000_000,
            user_id="guest",
            expiration=600,
            headers={"x-tenant": "oi", "x-retry": 0},
        ),
        "pretty_crlf": aio_pika.Message(pretty, content_type="application/json"),
        "dotnet_bom": aio_pika.Message(
            b"\xef\xbb\xbf" + compact, content_type="application/json; charset=utf-8"
        ),
    }


async def test_every_common_publisher_style_is_accepted(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    sent = {}
    exchange = await broker.channel.get_exchange(EXCHANGE)
    for style in _styles(cr_stoc()):
        message = cr_stoc(intervention=f"STYLE-{style}:after=never")
        sent[style] = message
        await exchange.publish(_styles(message)[style], INPUT_ROUTING_KEY)
    utf16 = json.dumps(cr_stoc()).encode("utf-16")  # with its byte order mark
    await exchange.publish(
        aio_pika.Message(utf16, content_type="application/json; charset=utf-16"),
        INPUT_ROUTING_KEY,
    )

    [dead] = await _dead(broker, 1)
    assert _text(dead.headers["x-dead-letter-reason"]) == "not_json"  # type: ignore[attr-defined]
    assert "UTF-16" in _text(dead.headers["x-dead-letter-detail"])  # type: ignore[attr-defined]
    for style, message in sent.items():
        row = await wait_for_status(db, message["messageId"], ("pending", *FINAL))
        assert row["code_oc"] == "OCAA", style
        assert row["reference_commande_sous_traitant_oi"] == f"STYLE-{style}:after=never", style
    assert await db.fetchval("SELECT count(*) FROM dead_letters") == 1
