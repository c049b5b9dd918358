"""The RabbitMQ names of the contract, and their declaration (idempotent, run at every start).

The work queue and the dead-letter queue are quorum queues by default: replicated on a cluster,
and the work queue has a delivery limit, a last guard against a message that kills every worker
that takes it (after `delivery_limit` deliveries the broker dead-letters it). The dead-letter
queue has no limit: its one consumer, `worker replay-dead-letters`, gives back what it keeps,
and a limit there would drop dead letters after a few looks. `classic` is for brokers that
cannot run quorum queues.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
)

from worker.settings import ConfigError, Settings

EXCHANGE = "order-flow"
INPUT_ROUTING_KEY = "cr_stoc.completed"
QUEUE = "photos.cr_stoc"
DEAD_QUEUE = "photos.cr_stoc.dead"
QueueType = Literal["quorum", "classic"]


class QueueTypeMismatch(ConfigError):
    """A queue exists with other arguments than this worker declares (a classic queue left by an
    earlier version, say): RabbitMQ refuses to change a queue, so an operator must."""


@dataclass(frozen=True)
class QueuePolicy:
    kind: QueueType = "quorum"
    delivery_limit: int = 20

    @classmethod
    def of(cls, settings: Settings) -> QueuePolicy:
        return cls(settings.queue_type, settings.delivery_limit)

    def arguments(self, *, work_queue: bool) -> dict[str, Any]:
        arguments: dict[str, Any] = {"x-queue-type": self.kind}
        if work_queue:
            arguments |= {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": DEAD_QUEUE}
        if work_queue and self.kind == "quorum":
            # at-least-once: a message the broker dead-letters is confirmed by the dead queue
            # before it leaves this one (RabbitMQ 3.10+; it needs reject-publish).
            arguments |= {
                "x-delivery-limit": self.delivery_limit,
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            }
        return arguments


@dataclass(frozen=True)
class Topology:
    exchange: AbstractExchange
    queue: AbstractQueue


async def declare(channel: AbstractChannel, policy: QueuePolicy) -> Topology:
    """Durable topic exchange, the work queue bound to it, and the dead-letter queue.

    The work queue dead-letters to the default exchange with the dead queue's name, so a delivery
    that the broker itself rejects ends in the same place as those the worker refuses.
    """
    exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    await declare_dead_queue(channel, policy)
    queue = await _declare(channel, QUEUE, policy, work_queue=True)
    await queue.bind(exchange, INPUT_ROUTING_KEY)
    return Topology(exchange, queue)


async def declare_dead_queue(channel: AbstractChannel, policy: QueuePolicy) -> None:
    await _declare(channel, DEAD_QUEUE, policy, work_queue=False)


async def _declare(
    channel: AbstractChannel, name: str, policy: QueuePolicy, *, work_queue: bool
) -> AbstractQueue:
    try:
        return await channel.declare_queue(
            name, durable=True, arguments=policy.arguments(work_queue=work_queue)
        )
    except aiormq.exceptions.ChannelPreconditionFailed as exc:
        raise QueueTypeMismatch(
            f"RabbitMQ refuses to declare {name} as this worker does ({policy.kind} queue,"
            f" WORKER_QUEUE_TYPE={policy.kind}): {exc.args[0] if exc.args else exc}. Set"
            " WORKER_QUEUE_TYPE to the existing queue's type, or move the queue over as the"
            " docs/operations.md says (Queue types)"
        ) from None


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
