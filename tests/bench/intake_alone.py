"""Intake alone: the `Intake` class in this process on a backlog of CR_STOC, no attempts, against
the real broker and database: messages recorded per second and this process's CPU per message.
What the catch-up day's intake costs when nothing else takes turns on the loop."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid

import aio_pika
import asyncpg

from tests.bench.apart import cpu_seconds, serve_apart
from tests.bench.environment import OC, Place
from tests.bench.scenarios import Figures
from worker.events.topology import INPUT_ROUTING_KEY, QueuePolicy, declare
from worker.intake.consumer import Intake
from worker.intake.dead_letter import DeadLetterCopier
from worker.observe.logs import configure_logging
from worker.observe.metrics import Metrics


async def intake_alone(name: str, messages: int, runs: int) -> Figures:
    # As `worker run` logs by default (info, JSON): accepted deliveries are not logged.
    configure_logging("info", "json", stream=open(os.devnull, "w"))  # noqa: SIM115
    figures = Figures()
    for run in range(runs):
        place = await Place(f"{name}_intake{run}").create()
        try:
            rate, cpu = await _one_run(place, messages)
        finally:
            await place.drop()
        figures.add(per_s=rate, cpu_us=cpu)
    return figures


async def _one_run(place: Place, messages: int) -> tuple[float, float]:
    connection = await aio_pika.connect(place.amqp_url)
    pool = await asyncpg.create_pool(place.dsn, min_size=1, max_size=10)
    try:
        consumer = await connection.channel()
        await consumer.set_qos(prefetch_count=1000)  # WORKER_PREFETCH's default
        publisher = await connection.channel(publisher_confirms=True)
        topology = await declare(consumer, QueuePolicy())
        await _publish(topology.exchange, messages)
        metrics = Metrics()
        copier = DeadLetterCopier(pool, publisher, QueuePolicy(), metrics, "bench")
        intake = Intake(pool, copier, frozenset({OC}), metrics, lambda: None)
        cpu, started = cpu_seconds(), time.monotonic()
        await topology.queue.consume(intake.on_message)
        while await pool.fetchval("SELECT count(*) FROM photo_requests") < messages:
            await asyncio.sleep(0.05)
        return messages / (time.monotonic() - started), 1e6 * (cpu_seconds() - cpu) / messages
    finally:
        await connection.close()
        await pool.close()


async def _publish(exchange: aio_pika.abc.AbstractExchange, messages: int) -> None:
    for start in range(0, messages, 1000):
        await asyncio.gather(
            *(
                exchange.publish(aio_pika.Message(_body(i), delivery_mode=2), INPUT_ROUTING_KEY)
                for i in range(start, min(start + 1000, messages))
            )
        )


def _body(i: int) -> bytes:
    return json.dumps(
        {
            "messageId": str(uuid.uuid4()),
            "flux": "CR_STOC",
            "codeOC": OC,
            "referenceCommandeSousTraitantOI": f"INTAKE-{i}",
            "dateIntervention": "2026-11-01T10:00:00+01:00",
            "resultat": "OK",
            "actions": ["POSE_PTO"],
        }
    ).encode()


if __name__ == "__main__":
    serve_apart(intake_alone)
