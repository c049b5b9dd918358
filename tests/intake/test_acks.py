"""Coalesced acks against the real broker: a run of accepted deliveries goes as one multiple ack,
and a delivery still being handled is never covered by it."""

from __future__ import annotations

import asyncio

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage

from worker.intake.acks import Acks

pytestmark = pytest.mark.services


async def _deliveries(
    amqp_url: str, count: int
) -> tuple[aio_pika.abc.AbstractConnection, list[AbstractIncomingMessage], Acks]:
    """`count` deliveries in hand, each registered as it arrives, as the consumer does."""
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    queue = await channel.declare_queue("acks.test", durable=True)
    for i in range(count):
        await channel.default_exchange.publish(aio_pika.Message(str(i).encode()), "acks.test")
    got: list[AbstractIncomingMessage] = []

    async def keep(message: AbstractIncomingMessage) -> None:
        got.append(message)

    await queue.consume(keep)
    deadline = asyncio.get_running_loop().time() + 10
    while len(got) < count and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    assert len(got) == count
    acks = Acks()
    for message in got:
        acks.arrived(message)
    return connection, got, acks


async def _ready_after_close(amqp_url: str, connection: aio_pika.abc.AbstractConnection) -> int:
    """Closing the consumer's connection gives its unacked deliveries back: count them."""
    await connection.close()
    async with await aio_pika.connect(amqp_url) as fresh:
        channel = await fresh.channel()
        queue = await channel.declare_queue("acks.test", durable=True, passive=True)
        count = queue.declaration_result.message_count
        assert count is not None
        return count


async def test_a_run_of_accepted_deliveries_is_acked_by_one_multiple_ack(amqp_url: str) -> None:
    connection, got, acks = await _deliveries(amqp_url, 6)
    await asyncio.gather(*(acks.ack(m) for m in got))
    # One frame: only the last delivery was acked itself, with multiple, covering the others.
    assert [m.processed for m in got] == [False] * 5 + [True]
    assert await _ready_after_close(amqp_url, connection) == 0


async def test_a_delivery_being_handled_is_not_covered(amqp_url: str) -> None:
    connection, got, acks = await _deliveries(amqp_url, 5)
    held = got[1]  # still being handled, e.g. through a database outage
    await asyncio.gather(*(acks.ack(m) for m in got if m is not held))
    assert await _ready_after_close(amqp_url, connection) == 1


async def test_a_delivery_forgotten_after_its_own_settlement_leaves_no_gap(amqp_url: str) -> None:
    connection, got, acks = await _deliveries(amqp_url, 4)
    await got[0].nack(requeue=True)  # as the consumer gives one back, then forgets it
    acks.forget(got[0])
    await asyncio.gather(*(acks.ack(m) for m in got[1:]))
    # The requeued one is the only one left once the consumer is gone.
    assert await _ready_after_close(amqp_url, connection) == 1


async def test_an_ack_on_a_closed_channel_fails_at_once(amqp_url: str) -> None:
    connection, got, acks = await _deliveries(amqp_url, 1)
    await connection.close()
    with pytest.raises(aio_pika.exceptions.ChannelInvalidStateError):
        await acks.ack(got[0])
