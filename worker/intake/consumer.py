"""The consumer of `photos.cr_stoc`: validate, record the request, settle the delivery.

A delivery is held only while its row is inserted, never while the partner is asked: waiting
for photos lives in PostgreSQL, so no delivery gets near RabbitMQ's `consumer_timeout`. While
PostgreSQL is unavailable a delivery is held and tried again for a while, rather than given back
at once: each return counts against the work queue's delivery limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from functools import partial

import asyncpg
import structlog
from aio_pika.abc import AbstractIncomingMessage

from worker.database.batching import Batcher
from worker.intake import requests
from worker.intake.acks import Acks
from worker.intake.dead_letter import DeadLetterCopier
from worker.intake.message import CrStoc, InvalidMessage, parse_message
from worker.observe.failures import (
    AMQP_ERRORS,
    DB_ERRORS,
    describe_refusal,
    is_data_error,
    report_failure,
)
from worker.observe.metrics import Metrics

log = structlog.get_logger()
# Pausing before a delivery goes back keeps a failing dead-letter copy from becoming a
# redelivery storm; the prefetch limit then slows the broker down too.
_REQUEUE_DELAY = 2.0
_BATCH = 500  # requests recorded by one INSERT at most
_BACKLOG_PER_SECOND = 1000
# While PostgreSQL is unavailable a delivery is held and its insert tried again, up to this
# long: giving it back would spend one of the work queue's delivery limit each time, and
# RabbitMQ's consumer_timeout (30 min by default) is far.
_HOLD_SECONDS = 300.0
_HOLD_PAUSES = (0.5, 1.0, 2.0, 5.0, 10.0)


class Rate:
    """Counts in whole seconds of `clock`: this one and the one before."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._second, self._count, self._before = 0, 0, 0

    def add(self, count: int) -> None:
        self._roll()
        self._count += count

    def recent(self) -> int:
        self._roll()
        return max(self._count, self._before)

    def _roll(self) -> None:
        second = int(self._clock())
        if second != self._second:
            self._before = self._count if second == self._second + 1 else 0
            self._second, self._count = second, 0


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
    pause: float = _REQUEUE_DELAY


Verdict = Accepted | DeadLetter | Requeue


class Intake:
    def __init__(
        self,
        pool: asyncpg.Pool,
        dead_letters: DeadLetterCopier,
        known_ocs: frozenset[str],
        metrics: Metrics,
        on_accepted: Callable[[], None],
    ) -> None:
        self._dead_letters = dead_letters
        self._known_ocs = known_ocs
        self._metrics = metrics
        self._on_accepted = on_accepted
        self._recorded = Rate()
        self._in_flight: set[asyncio.Task[object]] = set()
        self._stopping = asyncio.Event()
        self._acks = Acks()
        self._inserter: Batcher[CrStoc, bool] = Batcher(
            partial(self._insert, pool), max_batch=_BATCH, isolate=is_data_error
        )

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        self._metrics.messages_received.inc()
        task = asyncio.current_task()
        assert task is not None  # aiormq runs every delivery in a task of its own
        self._in_flight.add(task)
        self._acks.arrived(message)
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
            self._acks.forget(message)
            self._in_flight.discard(task)

    def backlogged(self) -> bool:
        """Reading a backlog (a catch-up day): more than a thousand deliveries recorded in the
        last second or the one before. A burst of a few hundred does not count."""
        return self._recorded.recent() >= _BACKLOG_PER_SECOND

    async def _insert(self, pool: asyncpg.Pool, batch: list[CrStoc]) -> list[bool]:
        self._recorded.add(len(batch))
        return await requests.insert_requests(pool, batch)

    async def drain(self, timeout: float) -> None:
        """Wait for deliveries being handled; what is left unsettled the broker redelivers."""
        self._stopping.set()  # a delivery held through a database outage goes back now
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=timeout)

    async def _judge(self, message: AbstractIncomingMessage) -> Verdict:
        try:
            request = parse_message(message.body, message.content_type)
        except InvalidMessage as exc:
            return DeadLetter(exc.reason, exc.detail)
        structlog.contextvars.bind_contextvars(**_context(request))
        if request.code_oc not in self._known_ocs:
            return DeadLetter("unknown_oc", f"codeOC {request.code_oc} is not in the partners file")
        return await self._record(request)

    async def _record(self, request: CrStoc) -> Verdict:
        """Insert the request; hold the delivery while the database is unavailable."""
        held = 0.0
        for pause in _pauses():
            try:
                new = await self._inserter.submit(request)
            except DB_ERRORS as exc:
                if is_data_error(exc):
                    # Valid by the contract, refused by the database: retrying cannot help.
                    refusal = describe_refusal(exc)
                    return DeadLetter("unstorable", f"PostgreSQL refused the request: {refusal}")
                self._metrics.errors.labels("database").inc()
                if self._stopping.is_set() or held >= _HOLD_SECONDS:
                    return Requeue(f"recording the request failed: {exc!r}", pause=0.0)
                log.log(
                    logging.WARNING if not held else logging.DEBUG,
                    "database unavailable; holding the delivery and trying again",
                    error=repr(exc),
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), pause)
                held += pause
                continue
            if new:
                self._on_accepted()
            return Accepted(new)
        raise AssertionError("unreachable: _pauses() never ends")

    async def _settle(self, message: AbstractIncomingMessage, verdict: Verdict) -> None:
        """The one place where deliveries are acked, dead-lettered or given back."""
        match verdict:
            case Accepted(new=new):
                outcome = await _ack(self._acks.ack(message), "accepted" if new else "duplicate")
            case DeadLetter(reason=reason, detail=detail):
                if await self._dead_letters.copy(message, reason, detail):
                    outcome = await _ack(message.ack(), "dead_lettered")
                else:
                    await asyncio.sleep(_REQUEUE_DELAY)
                    outcome = await _requeue(message)
            case Requeue(error=error, pause=pause):
                log.error("message given back to the queue", error=error)
                await asyncio.sleep(pause)
                outcome = await _requeue(message)
        self._metrics.messages_settled.labels(outcome).inc()
        # Accepted is the ordinary way: on a catch-up day, a line each was a quarter of intake's
        # CPU. The request row records it; the metric counts it; anything else is logged.
        level = logging.DEBUG if outcome == "accepted" else logging.INFO
        log.log(level, "message settled", outcome=outcome, **_verdict_fields(verdict))


async def _ack(ack: Awaitable[None], outcome: str) -> str:
    try:
        await ack
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


def _pauses() -> Iterator[float]:
    yield from _HOLD_PAUSES
    yield from itertools.repeat(_HOLD_PAUSES[-1])


def _context(request: CrStoc) -> dict[str, str]:
    refs = {f"ref_{query}": value for query, value in request.references().items() if value}
    return {"message_id": str(request.message_id), "code_oc": request.code_oc, **refs}


def _verdict_fields(verdict: Verdict) -> dict[str, str]:
    if isinstance(verdict, DeadLetter):
        return {"reason": verdict.reason, "detail": verdict.detail}
    if isinstance(verdict, Requeue):
        return {"error": verdict.error}
    return {}
