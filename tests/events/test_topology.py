"""The queues: quorum with a delivery limit by default, classic on demand, and a clear error when
a queue of the other kind is already there."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aio_pika
import asyncpg
import pytest

from tests.harness import Broker, InProcessWorker, cr_stoc, load_test_partners, make_settings
from tests.process import ProcessFactory
from tests.services import rabbitmqctl, wait_until
from worker.events.topology import DEAD_QUEUE, QUEUE, QueuePolicy
from worker.simulator import Simulator

pytestmark = pytest.mark.services


def _queues(amqp_url: str) -> dict[str, str]:
    vhost = amqp_url.rsplit("/", 1)[1]
    listed = rabbitmqctl(
        "list_queues", "-p", vhost, "--quiet", "--no-table-headers", "name", "type"
    )
    return dict(line.split() for line in listed.splitlines() if line.strip())


async def test_the_queues_are_quorum_queues_by_default(broker: Broker, amqp_url: str) -> None:
    queues = _queues(amqp_url)
    assert queues[QUEUE] == "quorum"
    assert queues[DEAD_QUEUE] == "quorum"


async def test_a_message_delivered_too_often_is_dead_lettered_by_the_broker(
    amqp_url: str,
) -> None:
    broker = await Broker(amqp_url, QueuePolicy(delivery_limit=2)).open()
    try:
        await broker.publish(b'{"poison": true}', message_id="kills-its-consumer")
        queue = await broker.channel.get_queue(QUEUE)
        for _ in range(3):  # a consumer that dies with it, three times over
            message = await wait_until(lambda: queue.get(no_ack=False, fail=False))
            await message.nack(requeue=True)
        dead = await wait_until(broker.dead_letters, what="the broker's dead letter")
        assert [m.message_id for m in dead] == ["kills-its-consumer"]
        assert "x-death" in (dead[0].headers or {})
    finally:
        await broker.close()


async def test_classic_queues_on_demand(
    database_url: str, amqp_url: str, tmp_path: Path, simulator: Simulator, db: asyncpg.Pool
) -> None:
    broker = await Broker(amqp_url, QueuePolicy("classic")).open()
    settings = make_settings(database_url, amqp_url, tmp_path, queue_type="classic")
    partners = load_test_partners(settings, simulator.base_url)
    worker = await InProcessWorker(settings, partners, broker).start()
    try:
        row = await broker.run(db, cr_stoc(intervention="CLASSIC:photos=1"))
        assert row["status"] == "completed"
    finally:
        await worker.stop()
        await broker.close()
    assert _queues(amqp_url) == {QUEUE: "classic", DEAD_QUEUE: "classic"}


async def test_a_queue_of_the_other_kind_is_one_clear_error(
    spawn: ProcessFactory,
    database_url: str,
    amqp_url: str,
    tmp_path: Path,
    simulator: Simulator,
) -> None:
    connection = await aio_pika.connect(amqp_url)
    try:  # what an earlier version of the worker declared
        await (await connection.channel()).declare_queue(QUEUE, durable=True)
    finally:
        await connection.close()
    settings = make_settings(database_url, amqp_url, tmp_path)
    load_test_partners(settings, simulator.base_url)
    worker = spawn(settings, "mismatched")
    code = await asyncio.to_thread(worker.wait, 30)
    log = worker.log()
    assert code == 2, log
    assert "worker: configuration error: RabbitMQ refuses to declare photos.cr_stoc" in log
    assert "WORKER_QUEUE_TYPE" in log
    assert "Traceback" not in log
    assert _queues(amqp_url)[QUEUE] == "classic"  # left as it was
