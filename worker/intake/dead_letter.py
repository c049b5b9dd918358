"""The copy of a refused message in `photos.cr_stoc.dead`, with the reason in its headers, and
its record in `dead_letters`. Whether the original is then acked is decided by the consumer.

The copy is published mandatory and confirmed: if the dead queue is missing (deleted by hand),
the broker returns it instead of dropping it; the queue is declared again and the copy sent once
more. Only a confirmed copy lets the original go.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import structlog
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from aio_pika.exceptions import PublishError

from worker.events.topology import DEAD_QUEUE, QueuePolicy, declare_dead_queue, persistent_copy
from worker.intake import requests
from worker.intake.requests import DEAD_LETTER_ID
from worker.observe.failures import AMQP_ERRORS, DB_ERRORS
from worker.observe.metrics import Metrics

log = structlog.get_logger()


class DeadLetterCopier:
    def __init__(
        self,
        pool: asyncpg.Pool,
        publisher: AbstractChannel,
        policy: QueuePolicy,
        metrics: Metrics,
        instance: str,
    ) -> None:
        self._pool = pool
        self._publisher = publisher
        self._policy = policy
        self._metrics = metrics
        self._instance = instance

    async def copy(self, message: AbstractIncomingMessage, reason: str, detail: str) -> bool:
        """True once the dead queue has confirmed the copy; False if the original must stay."""
        record_id = await self._record(message, reason, detail)
        headers = dict(message.headers or {})
        headers.pop(DEAD_LETTER_ID, None)  # only ever our own row's id
        if record_id is not None:
            headers[DEAD_LETTER_ID] = record_id
        headers.update(
            {
                "x-dead-letter-reason": reason,
                "x-dead-letter-detail": detail[:1000],
                "x-original-exchange": message.exchange or "",
                "x-original-routing-key": message.routing_key or "",
                "x-dead-lettered-by": self._instance,
            }
        )
        try:
            await self._publish(message, headers)
        except AMQP_ERRORS as exc:
            self._metrics.errors.labels("broker").inc()
            log.error("dead-lettering failed; the message goes back to the queue", error=repr(exc))
            return False
        self._metrics.messages_dead_lettered.labels(reason).inc()
        return True

    async def _publish(self, message: AbstractIncomingMessage, headers: dict[str, Any]) -> None:
        exchange = self._publisher.default_exchange
        try:
            await exchange.publish(persistent_copy(message, headers), DEAD_QUEUE, timeout=15)
        except PublishError:
            log.error("the dead-letter queue is missing: declaring it again", queue=DEAD_QUEUE)
            await declare_dead_queue(self._publisher, self._policy)
            await exchange.publish(persistent_copy(message, headers), DEAD_QUEUE, timeout=15)

    async def _record(
        self, message: AbstractIncomingMessage, reason: str, detail: str
    ) -> int | None:
        """The row's id, which the copy carries so that a replay can mark the row. Best effort:
        the dead-letter queue, the log and the metrics have the refusal anyway."""
        try:
            return await requests.record_dead_letter(
                self._pool, message.message_id, reason, detail, message.body, self._instance
            )
        except DB_ERRORS as exc:
            self._metrics.errors.labels("database").inc()
            log.error("could not record the dead letter in the database", error=repr(exc))
            return None
