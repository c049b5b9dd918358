"""`worker demo`: the whole pipeline on sample messages, against the simulated OC API.

Default settings (the local PostgreSQL, RabbitMQ and `./data/photos`); only the OI code (unless
one is set) and the partners file are the demo's own, since they must point at the simulator.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from worker.database.migrations import migrate
from worker.demo.report import print_report
from worker.demo.samples import CLIENT, SECRET, TOKEN, DemoRun, partners_toml, samples
from worker.events.topology import DEAD_QUEUE, EXCHANGE, INPUT_ROUTING_KEY, QueuePolicy, declare
from worker.observe.logs import configure_logging
from worker.partners.config import load_partners
from worker.photos.storage import local_root
from worker.resources import connect_broker, connect_database
from worker.service import run_worker
from worker.settings import Settings, load_settings
from worker.simulator import SimulatorConfig, start

_DATA = Path("data")


async def run_demo(timeout: float) -> int:
    settings = load_settings()
    if settings.oi_code is None:
        settings = settings.model_copy(update={"oi_code": "DEMO"})
    # Any free port for /metrics: a worker already running here keeps its own.
    settings = settings.model_copy(update={"metrics_port": 0})
    _DATA.mkdir(exist_ok=True)
    log_file = _DATA / "demo-worker.log"
    with log_file.open("a", encoding="utf-8") as stream:
        configure_logging("info", "json", stream=stream)
        started = time.monotonic()
        run, rows = await _demo(settings, timeout)
    where = settings.storage_url
    if where.startswith("file://"):
        where = f"file://{local_root(where)}"
    as_expected = print_report(run, rows, where, log_file, time.monotonic() - started)
    return 0 if as_expected else 1


async def _demo(
    settings: Settings, timeout: float
) -> tuple[DemoRun, dict[uuid.UUID, asyncpg.Record]]:
    conn = await connect_database(settings)
    try:
        await migrate(conn)
        simulator = await start(
            SimulatorConfig(
                client_id=settings.oi_code,
                tokens=frozenset({TOKEN}),
                oauth_clients={CLIENT: SECRET},
            )
        )
        try:
            run = await _exercise(settings, simulator.base_url, conn, timeout)
        finally:
            await simulator.close()
        rows = await conn.fetch(_REPORT_SQL, run.message_ids)
    finally:
        await conn.close()
    return run, {row["message_id"]: row for row in rows}


async def _exercise(
    settings: Settings, base_url: str, conn: asyncpg.Connection, timeout: float
) -> DemoRun:
    partners_file = _DATA / "demo-partners.toml"
    partners_file.write_text(partners_toml(base_url), encoding="utf-8")
    partners = load_partners(partners_file, {"DEMO_CLIENT_SECRET": SECRET})
    run = DemoRun(samples(f"DEMO{uuid.uuid4().hex[:4].upper()}"))
    broker = await connect_broker(settings)
    try:
        channel = await broker.channel()
        events, consumer = await _listen_for_events(channel, run, QueuePolicy.of(settings))
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(settings, partners, stop))
        await _publish(channel, run)
        await _wait_until_settled(conn, run, timeout)
        # The findings come with the reviews, after the final statuses: wait for them too.
        reviews = await _wait_until_reviewed(conn, run, timeout)
        await _wait_for(lambda: len(run.events) >= _finals(run) + reviews, 5.0)
        stop.set()
        await worker
        await events.cancel(consumer)  # the queue is auto-delete: it goes with its consumer
        run.dead_letters = await _take_dead_letters(channel, run)
    finally:
        await broker.close()
    return run


async def _listen_for_events(
    channel: AbstractChannel, run: DemoRun, policy: QueuePolicy
) -> tuple[aio_pika.abc.AbstractQueue, str]:
    """An exclusive queue of our own on `photos.*`, to show the events the worker publishes."""
    topology = await declare(channel, policy)
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(topology.exchange, "photos.*")

    ours = {str(message_id) for message_id in run.message_ids}

    async def keep(message: AbstractIncomingMessage) -> None:
        event = json.loads(message.body)
        if event.get("messageId") in ours:  # not those of requests left by earlier runs
            run.events.append(event)
        await message.ack()

    return queue, await queue.consume(keep)


async def _publish(channel: AbstractChannel, run: DemoRun) -> None:
    exchange = await channel.get_exchange(EXCHANGE)
    for sample in run.samples:
        message = aio_pika.Message(
            json.dumps(sample.body).encode(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=sample.body.get("messageId"),
        )
        await exchange.publish(message, INPUT_ROUTING_KEY)


async def _wait_until_settled(conn: asyncpg.Connection, run: DemoRun, timeout: float) -> None:
    async def settled() -> bool:
        pending = await conn.fetchval(
            "SELECT count(*) FROM photo_requests WHERE message_id = ANY($1::uuid[])"
            " AND status <> 'pending'",
            run.message_ids,
        )
        return bool(pending >= _finals(run))

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not await settled():
        await asyncio.sleep(0.25)


async def _wait_until_reviewed(conn: asyncpg.Connection, run: DemoRun, timeout: float) -> int:
    """Wait for every queued review of this run; returns how many requests were reviewed."""
    query = (
        "SELECT count(*) FILTER (WHERE reviewed_at IS NULL) AS waiting, count(*) AS queued"
        " FROM request_reviews WHERE message_id = ANY($1::uuid[])"
    )
    deadline = time.monotonic() + timeout
    while True:
        row = await conn.fetchrow(query, run.message_ids)
        assert row is not None
        if row["waiting"] == 0 or time.monotonic() >= deadline:
            return int(row["queued"] - row["waiting"])
        await asyncio.sleep(0.25)


def _finals(run: DemoRun) -> int:
    return sum(s.expected in {"completed", "unavailable", "failed", "expired"} for s in run.samples)


async def _wait_for(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        await asyncio.sleep(0.05)


async def _take_dead_letters(channel: AbstractChannel, run: DemoRun) -> dict[str, str]:
    """Remove this run's messages from the dead-letter queue, keeping their reasons to show."""
    queue = await channel.get_queue(DEAD_QUEUE)
    ours = {s.body.get("messageId") for s in run.samples}
    found, others = {}, []
    while (message := await queue.get(no_ack=False, fail=False)) is not None:
        headers = message.headers or {}
        if message.message_id in ours:
            reason, detail = (
                headers.get(k) for k in ("x-dead-letter-reason", "x-dead-letter-detail")
            )
            found[str(message.message_id)] = f"{reason!s}: {detail!s}"
            await message.ack()
        else:
            others.append(message)
    for message in others:
        await message.nack(requeue=True)
    return found


_REPORT_SQL = """
SELECT r.message_id, r.code_oc, r.status, r.attempts, r.last_error,
    coalesce(array_agg(p.storage_key ORDER BY p.storage_key)
             FILTER (WHERE p.storage_key IS NOT NULL), '{}') AS keys,
    (SELECT coalesce(jsonb_agg(jsonb_build_object('kind', f.kind, 'severity', f.severity,
        'detail', f.detail) ORDER BY f.id), '[]')::text
     FROM photo_findings f WHERE f.message_id = r.message_id) AS findings
FROM photo_requests r
LEFT JOIN photo_request_photos l USING (message_id)
LEFT JOIN photos p ON p.code_oc = l.code_oc AND p.photo_id = l.photo_id
WHERE r.message_id = ANY($1::uuid[])
GROUP BY r.message_id
"""
