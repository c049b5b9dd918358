"""The consumer of `photos.cr_stoc`: validate, record the request, settle the delivery.

A delivery is held only while its row is inserted, never while the partner is asked: waiting
for photos lives in PostgreSQL, so no delivery gets near RabbitMQ's `consumer_timeout`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import asyncpg
import structlog
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from worker.database.batching import Batcher
from worker.events.topology import DEAD_QUEUE, persistent_copy
from worker.intake import requests
from worker.intake.message import CrStoc, InvalidMessage, parse_message
from worker.intake.requests import DEAD_LETTER_ID
from worker.observe.failures import (
    AMQP_ERRORS,
    DB_ERRORS,
    describe_refusal,
    is_data_error,
    report_failure,
)
from worker.observe.metrics import Metrics

log = structlog.get_logger()
# Holding a delivery this long before giving it back keeps a database outage from becoming a
# redelivery storm; the prefetch limit then slows the broker down too.
_REQUEUE_DELAY = 2.0
_BATCH = 500  # requests recorded by one INSERT at most


@dataclass(frozen=True)
class Accepted:
    new: bool


@dataclass(frozen=True)
class DeadLetter:
    reason: str
    detail: str


@dataclass(frozen=True)
class Requeue:
    error: str


Verdict = Accepted | DeadLetter | Requeue


class Intake:
    def __init__(
        self,
        pool: asyncpg.Pool,
        publisher: AbstractChannel,
        known_ocs: frozenset[str],
        metrics: Metrics,
        on_accepted: Callable[[], None],
        instance: str,
    ) -> None:
        self._pool = pool
        self._publisher = publisher
        self._known_ocs = known_ocs
        self._metrics = metrics
        self._on_accepted = on_accepted
        self._instance = instance
        self._in_flight: set[asyncio.Task[object]] = set()
        self._inserter: Batcher[CrStoc, bool] = Batcher(
            partial(requests.insert_requests, pool), max_batch=_BATCH, isolate=is_data_error
        )

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        self._metrics.messages_received.inc()
        task = asyncio.current_task()
        assert task is not None  # aiormq runs every delivery in a task of its own
        self._in_flight.add(task)
        try:
            verdict = await self._judge(message)
            await self._settle(message, verdict)
        except asyncio.CancelledError:
            # aiormq cancels the handlers of a channel that closes: the delivery is the broker's
            # again and comes back, and intake is idempotent.
            log.warning("delivery abandoned: its channel closed; the broker will redeliver it")
            self._metrics.messages_settled.labels("lost_with_channel").inc()
            raise
        except Exception as exc:
            # A bug must not leave the delivery unsettled, holding a prefetch slot for good.
            report_failure(self._metrics, exc, "handling a delivery failed; it goes back")
            await self._settle(message, Requeue(f"handling failed: {exc!r}"))
        finally:
            self._in_flight.discard(task)

    async def drain(self, timeout: float) -> None:
        """Wait for deliveries being handled; what is left unsettled the broker redelivers."""
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=timeout)

    async def _judge(self, message: AbstractIncomingMessage) -> Verdict:
        try:
            request = parse_message(message.body)
        except InvalidMessage as exc:
            return DeadLetter(exc.reason, exc.detail)
        structlog.contextvars.bind_contextvars(**_context(request))
        if request.code_oc not in self._known_ocs:
            return DeadLetter("unknown_oc", f"codeOC {request.code_oc} is not in the partners file")
        try:
            new = await self._inserter.submit(request)
        except DB_ERRORS as exc:
            if is_data_error(exc):
                # Valid by the contract, refused by the database: retrying cannot help.
                refusal = describe_refusal(exc)
                return DeadLetter("unstorable", f"PostgreSQL refused the request: {refusal}")
            self._metrics.errors.labels("database").inc()
            return Requeue(f"recording the request failed: {exc!r}")
        if new:
            self._on_accepted()
        return Accepted(new)

    async def _settle(self, message: AbstractIncomingMessage, verdict: Verdict) -> None:
        """The one place where deliveries are acked, dead-lettered or given back."""
        match verdict:
            case Accepted(new=new):
                outcome = await _ack(message, "accepted" if new else "duplicate")
            case DeadLetter(reason=reason, detail=detail):
                outcome = await self._dead_letter(message, reason, detail)
            case Requeue(error=error):
                log.error("message given back to the queue", error=error)
                await asyncio.sleep(_REQUEUE_DELAY)
                outcome = await _requeue(message)
        self._metrics.messages_settled.labels(outcome).inc()
        log.info("message settled", outcome=outcome, **_verdict_fields(verdict))

    async def _dead_letter(self, message: AbstractIncomingMessage, reason: str, detail: str) -> str:
        """Copy to the dead queue with the reason in headers, confirmed, then ack the original."""
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
        copy = persistent_copy(message, headers)
        try:
            await self._publisher.default_exchange.publish(copy, DEAD_QUEUE, timeout=15)
        except AMQP_ERRORS as exc:
            self._metrics.errors.labels("broker").inc()
            log.error("dead-lettering failed; the message goes back to the queue", error=repr(exc))
            return await _requeue(message)
        self._metrics.messages_dead_lettered.labels(reason).inc()
        return await _ack(message, "dead_lettered")

    async def _record(
        self, message: AbstractIncomingMessage, reason: str, detail: str
    ) -> int | None:
        """Best effort: the dead-letter queue, the log and the metrics have it anyway."""
        try:
            return await requests.record_dead_letter(
                self._pool, message.message_id, reason, detail, message.body, self._instance
            )
        except DB_ERRORS as exc:
            self._metrics.errors.labels("database").inc()
            log.error("could not record the dead letter in the database", error=repr(exc))
            return None


async def _ack(message: AbstractIncomingMessage, outcome: str) -> str:
    try:
        await message.ack()
    except AMQP_ERRORS as exc:
        return _lost(exc)
    return outcome


async def _requeue(message: AbstractIncomingMessage) -> str:
    try:
        await message.nack(requeue=True)
    except AMQP_ERRORS as exc:
        return _lost(exc)
    return "requeued"


def _lost(exc: BaseException) -> str:
    # The channel closed under this delivery; the broker redelivers it and intake is idempotent.
    log.warning("delivery lost with its channel; the broker will redeliver it", error=repr(exc))
    return "lost_with_channel"


def _context(request: CrStoc) -> dict[str, str]:
    refs = {f"ref_{query}": value for query, value in request.references().items() if value}
    return {"message_id": str(request.message_id), "code_oc": request.code_oc, **refs}


def _verdict_fields(verdict: Verdict) -> dict[str, str]:
    if isinstance(verdict, DeadLetter):
        return {"reason": verdict.reason, "detail": verdict.detail}
    if isinstance(verdict, Requeue):
        return {"error": verdict.error}
    return {}
