"""Soak: many messages through repeated SIGKILLs of the workers and restarts of RabbitMQ and
PostgreSQL (private ones), then a count of what was lost, duplicated or left behind: all 0.

Sized for CI by default; larger runs: `SOAK_MESSAGES=2000 SOAK_ROUNDS=20 pytest -s
tests/test_soak.py` (the summary line is printed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import uuid
from collections import Counter
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import pytest

from tests.harness import cr_stoc, load_test_partners, make_settings
from tests.nodes import PrivatePostgres, PrivateRabbit
from tests.process import ProcessFactory, WorkerProcess
from tests.services import wait_until
from worker.events.topology import EXCHANGE, INPUT_ROUTING_KEY, QueuePolicy, declare
from worker.settings import Settings
from worker.simulator import Simulator

pytestmark = [pytest.mark.services, pytest.mark.slow]

MESSAGES = int(os.environ.get("SOAK_MESSAGES", "240"))
ROUNDS = int(os.environ.get("SOAK_ROUNDS", "8"))
SCENARIOS = ("photos=2:after=1", "photos=3:size=200k:slow=20", "photos=1:errors=1:code=503")
EVENTS = "soak-events"


class Publisher:
    """Publishes CR_STOC messages with confirms, again after a broker restart, remembering the
    ones the broker confirmed (a publish whose confirm was lost is sent again: same messageId)."""

    def __init__(self, amqp_url: str) -> None:
        self._url = amqp_url
        self.confirmed: set[str] = set()

    async def publish(self, bodies: list[dict[str, Any]]) -> None:
        pending = [b for b in bodies if b["messageId"] not in self.confirmed]
        while pending:
            with contextlib.suppress(Exception):  # the broker is restarting: try again
                await self._publish(pending)
            pending = [b for b in pending if b["messageId"] not in self.confirmed]
            if pending:
                await asyncio.sleep(0.5)

    async def _publish(self, bodies: list[dict[str, Any]]) -> None:
        connection = await aio_pika.connect(self._url)
        try:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            exchange = await channel.get_exchange(EXCHANGE)
            for body in bodies:
                message = aio_pika.Message(
                    json.dumps(body).encode(),
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    message_id=body["messageId"],
                )
                await exchange.publish(message, INPUT_ROUTING_KEY, timeout=10)
                self.confirmed.add(body["messageId"])
        finally:
            await connection.close()


async def _prepare_broker(amqp_url: str) -> None:
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        topology = await declare(channel, QueuePolicy())
        events = await channel.declare_queue(
            EVENTS, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await events.bind(topology.exchange, "photos.*")
    finally:
        await connection.close()


async def _drain_events(amqp_url: str) -> tuple[Counter[str], Counter[str]]:
    """Final-status events and photos.reviewed events, counted by messageId."""
    finals: Counter[str] = Counter()
    reviews: Counter[str] = Counter()
    connection = await aio_pika.connect(amqp_url)
    try:
        queue = await (await connection.channel()).get_queue(EVENTS)
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            seen = reviews if message.routing_key == "photos.reviewed" else finals
            seen[json.loads(message.body)["messageId"]] += 1
    finally:
        await connection.close()
    return finals, reviews


async def _reviewed(pool: asyncpg.Pool) -> bool:
    with contextlib.suppress(Exception):  # the database may be restarting
        waiting = await pool.fetchval(
            "SELECT count(*) FROM request_reviews WHERE reviewed_at IS NULL"
        )
        return bool(waiting == 0)
    return False


async def _finished(pool: asyncpg.Pool, ids: list[uuid.UUID]) -> bool:
    with contextlib.suppress(Exception):  # the database may be restarting
        done = await pool.fetchval(
            "SELECT count(*) FROM photo_requests"
            " WHERE message_id = ANY($1) AND status <> 'pending'",
            ids,
        )
        return bool(done == len(ids))
    return False


class Chaos:
    """The workers, killed and started again, and the services, restarted, round after round."""

    def __init__(
        self, spawn: ProcessFactory, settings: Settings, rabbit: PrivateRabbit, pg: PrivatePostgres
    ) -> None:
        self._spawn, self._settings = spawn, settings
        self._rabbit, self._pg = rabbit, pg
        self.started = 0
        self.workers: list[WorkerProcess] = [self._start() for _ in range(2)]
        self.kills = self.rabbit_restarts = self.pg_restarts = self.respawns = 0

    def _start(self) -> WorkerProcess:
        self.started += 1
        return self._spawn(self._settings, f"soak-{self.started}")

    def supervise(self) -> None:
        """What an orchestrator does: a worker that exited (it does when a service is down while
        it starts) is started again."""
        for index, worker in enumerate(self.workers):
            if worker.exited():
                self.workers[index] = self._start()
                self.respawns += 1

    async def round(self, number: int) -> None:
        self.supervise()
        self.workers.pop(0).kill()
        self.kills += 1
        self.workers.append(self._start())
        if number % 4 == 1:
            await asyncio.to_thread(self._rabbit.restart, 1.0)
            self.rabbit_restarts += 1
        elif number % 4 == 3:
            await asyncio.to_thread(self._pg.restart, 1.0)
            self.pg_restarts += 1

    async def stop(self) -> list[int]:
        """SIGTERM to the workers once they run (one started an instant ago has no handler yet)."""
        await wait_until(self._running, timeout=60, what="the workers to run")
        for worker in self.workers:
            worker.signal(signal.SIGTERM)
        return [await asyncio.to_thread(worker.wait, 60) for worker in self.workers]

    async def _running(self) -> bool:
        self.supervise()
        return all('"event": "worker started"' in worker.log() for worker in self.workers)


async def _count(pool: asyncpg.Pool, ids: list[uuid.UUID]) -> dict[str, Any]:
    statuses = await pool.fetch(
        "SELECT status, count(*) FROM photo_requests WHERE message_id = ANY($1) GROUP BY status",
        ids,
    )
    return {
        "statuses": {r["status"]: r["count"] for r in statuses},
        "recorded": await pool.fetchval(
            "SELECT count(*) FROM photo_requests WHERE message_id = ANY($1)", ids
        ),
        "events_written_twice": await pool.fetchval(
            "SELECT count(*) FROM (SELECT message_id FROM outbox"
            " GROUP BY message_id, routing_key HAVING count(*) > 1) AS twice"
        ),
        "unsent_events": await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL"),
        "keys": {r["storage_key"] for r in await pool.fetch("SELECT storage_key FROM photos")},
        "links": await pool.fetchval("SELECT count(*) FROM photo_request_photos"),
    }


async def test_soak_kills_and_restarts_lose_and_duplicate_nothing(
    spawn: ProcessFactory,
    private_rabbit: PrivateRabbit,
    private_postgres: PrivatePostgres,
    private_amqp_url: str,
    private_database_url: str,
    tmp_path: Path,
    simulator: Simulator,
) -> None:
    settings = make_settings(
        private_database_url,
        private_amqp_url,
        tmp_path,
        lease_seconds=2,
        max_interruptions=10,
        shutdown_grace_seconds=3,
    )
    load_test_partners(settings, simulator.base_url)
    await _prepare_broker(private_amqp_url)
    bodies = [
        cr_stoc(intervention=f"SOAK-{i}:{SCENARIOS[i % len(SCENARIOS)]}") for i in range(MESSAGES)
    ]
    publisher = Publisher(private_amqp_url)
    chaos = Chaos(spawn, settings, private_rabbit, private_postgres)
    wave = -(-MESSAGES // ROUNDS)
    for number in range(ROUNDS):
        await publisher.publish(bodies[number * wave : (number + 1) * wave])
        await asyncio.sleep(1.5)
        await chaos.round(number)
    ids = [uuid.UUID(b["messageId"]) for b in bodies]
    pool = await asyncpg.create_pool(private_database_url, min_size=1, max_size=2)
    assert pool is not None
    try:
        await wait_until(
            lambda: _supervised(chaos, _finished(pool, ids)),
            timeout=240,
            what="every request to end",
        )
        await wait_until(
            lambda: _supervised(chaos, _reviewed(pool)), timeout=240, what="every review"
        )
        await wait_until(lambda: _no_unsent(pool), timeout=60, what="every event to be published")
        codes = await chaos.stop()
        counted = await _count(pool, ids)
    finally:
        await pool.close()
    events, reviews = await _drain_events(private_amqp_url)
    photos_expected = sum(
        int(b["referenceCommandeSousTraitantOI"].split("photos=")[1][0]) for b in bodies
    )
    files = {
        str(p.relative_to(tmp_path / "photos"))
        for p in (tmp_path / "photos").rglob("*")
        if p.is_file()
    }
    files -= {f for f in files if f.startswith("_probe/")}
    # A write cut by SIGKILL leaves its staging file (`.<name>.<id>.part` here, `<name>#<n>` from
    # obstore): never read, never a photo; counted apart (docs/design.md: Storage).
    staging = {f for f in files if _is_staging(f)}
    files -= staging
    summary = {
        "messages": MESSAGES,
        "published": len(publisher.confirmed),
        "kills": chaos.kills,
        "rabbitmq_restarts": chaos.rabbit_restarts,
        "postgresql_restarts": chaos.pg_restarts,
        "lost": MESSAGES - counted["recorded"],
        "not_completed": MESSAGES - counted["statuses"].get("completed", 0),
        "duplicated_photo_links": counted["links"] - photos_expected,
        "events_written_twice": counted["events_written_twice"],
        "missing_events": sum(1 for i in ids if events[str(i)] == 0),
        "events_delivered_more_than_once": sum(1 for n in events.values() if n > 1),
        "missing_reviews": sum(1 for i in ids if reviews[str(i)] == 0),
        "reviews_delivered_more_than_once": sum(1 for n in reviews.values() if n > 1),
        "orphan_files": len(files - counted["keys"]),
        "staging_files_left": len(staging),
        "missing_files": len(counted["keys"] - files),
        "workers_started_again_after_exiting": chaos.respawns,
        "worker_exit_codes": codes,
    }
    print(f"\nsoak: {json.dumps(summary)}")
    zero = (
        "lost", "not_completed", "duplicated_photo_links", "events_written_twice",
        "missing_events", "missing_reviews", "orphan_files", "missing_files",
    )  # fmt: skip
    assert {key: summary[key] for key in zero} == dict.fromkeys(zero, 0), summary
    assert codes == [0, 0], [w.log()[-3000:] for w in chaos.workers]


def _is_staging(key: str) -> bool:
    name = key.rsplit("/", 1)[-1]
    return (name.startswith(".") and name.endswith(".part")) or "#" in name


async def _supervised(chaos: Chaos, condition: Awaitable[bool]) -> bool:
    chaos.supervise()
    return await condition


async def _no_unsent(pool: asyncpg.Pool) -> bool:
    with contextlib.suppress(Exception):
        return bool(await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0)
    return False
