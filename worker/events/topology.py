"""The RabbitMQ names of the contract, and their declaration (idempotent, run at every start)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
)

EXCHANGE = "order-flow"
INPUT_ROUTING_KEY = "cr_stoc.completed"
QUEUE = "photos.cr_stoc"
DEAD_QUEUE = "photos.cr_stoc.dead"


@dataclass(frozen=True)
class Topology:
    exchange: AbstractExchange
    queue: AbstractQueue


async def declare(channel: AbstractChannel) -> Topology:
    """Durable topic exchange, the work queue bound to it, and the dead-letter queue.

    The work queue dead-letters to the default exchange with the dead queue's name, so a delivery
    that the broker itself rejects ends in the same place as those the worker refuses.
    """
    exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    await channel.declare_queue(DEAD_QUEUE, durable=True)
    queue = await channel.declare_queue(
        QUEUE,
        durable=True,
        arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": DEAD_QUEUE},
    )
    await queue.bind(exchange, INPUT_ROUTING_KEY)
    return Topology(exchange, queue)


def persistent_copy(message: AbstractIncomingMessage, headers: dict[str, Any]) -> aio_pika.Message:
    """The same body and properties, persistent, with these headers (dead-lettering, replay)."""
    return aio_pika.Message(
        message.body,
        headers=headers,
        content_type=message.content_type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message.message_id,
        timestamp=message.timestamp,
    )
