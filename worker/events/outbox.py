"""Publishes the result events written to the outbox, with publisher confirms.

The event row is committed with the final status, so an event can be published twice (a crash
between the confirm and the `sent_at` update) but never lost. Consumers key on `messageId`.
Publishes are mandatory: an event that no queue takes (nothing bound to `photos.<status>`) comes
back from the broker, stays in the outbox, is counted and logged, and is tried again later and
later (up to every 10 minutes) until a queue is bound.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import aio_pika
import asyncpg
import structlog
from aio_pika.abc import AbstractExchange
from aio_pika.exceptions import PublishError
from asyncpg.pool import PoolConnectionProxy

from worker.observe.failures import report_failure
from worker.observe.metrics import Metrics

log = structlog.get_logger()
_BATCH = 200
_LINGER = 0.05
_PUBLISH_TIMEOUT = 15.0
_UNROUTABLE_MAX_PAUSE = 600.0


class OutboxRelay:
    def __init__(
        self, pool: asyncpg.Pool, exchange: AbstractExchange, metrics: Metrics, poll_seconds: float
    ) -> None:
        self._pool = pool
        self._exchange = exchange
        self._metrics = metrics
        self._poll_seconds = poll_seconds
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            self._wake.clear()
            sent = await self.flush()
            failures = failures + 1 if sent is None else 0
            if sent is None or sent < _BATCH:
                # While the broker or the database is away, wait longer and longer (up to 30 s).
                pause = min(self._poll_seconds * 2**failures, 30.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), pause)
                # Events finished together leave together: one batch, not a round trip each.
                await asyncio.sleep(_LINGER)

    async def flush(self) -> int | None:
        """Publish one batch of unsent events: how many were confirmed, None on failure."""
        try:
            return await self._publish_batch()
        except Exception as exc:
            report_failure(self._metrics, exc, "publishing result events failed; will retry")
            return None

    async def _publish_batch(self) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            # SKIP LOCKED: replicas publish disjoint batches instead of queueing on the same rows.
            rows = await conn.fetch(
                "SELECT id, message_id, routing_key, body::text AS body, publish_attempts"
                " FROM outbox WHERE sent_at IS NULL"
                " AND (next_publish_at IS NULL OR next_publish_at <= now())"
                " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                _BATCH,
            )
            if not rows:
                return 0
            results = await asyncio.gather(
                *(self._publish(row) for row in rows), return_exceptions=True
            )
            sent = [row["id"] for row, result in zip(rows, results, strict=True) if result is None]
            await conn.execute(
                "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])", sent
            )
            await self._keep_unroutable(conn, rows, results)
        self._metrics.events_published.inc(len(sent))
        failed = [r for r in results if isinstance(r, BaseException) and not _unroutable(r)]
        if failed:
            raise failed[0]  # the broker is away: the whole loop backs off
        return len(sent)

    async def _keep_unroutable(
        self, conn: PoolConnectionProxy, rows: list[asyncpg.Record], results: Sequence[object]
    ) -> None:
        returned = [row for row, result in zip(rows, results, strict=True) if _unroutable(result)]
        for row in returned:
            self._metrics.events_unroutable.labels(row["routing_key"]).inc()
            log.error(
                "event unroutable: no queue is bound to its routing key; kept in the outbox",
                routing_key=row["routing_key"],
                message_id=str(row["message_id"]),
                publish_attempts=row["publish_attempts"] + 1,
            )
        if returned:
            await conn.execute(
                "UPDATE outbox SET publish_attempts = publish_attempts + 1,"
                " last_error = 'unroutable: no queue bound to ' || routing_key,"
                " next_publish_at = now() + make_interval(secs => least($2::float8,"
                " $3 * 2 ^ least(publish_attempts, 30)))"
                " WHERE id = ANY($1::bigint[])",
                [row["id"] for row in returned],
                _UNROUTABLE_MAX_PAUSE,
                self._poll_seconds,
            )

    async def _publish(self, row: asyncpg.Record) -> None:
        message = aio_pika.Message(
            row["body"].encode(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=str(row["message_id"]),
        )
        await self._exchange.publish(
            message, row["routing_key"], mandatory=True, timeout=_PUBLISH_TIMEOUT
        )
        log.debug(
            "event published", routing_key=row["routing_key"], message_id=str(row["message_id"])
        )


def _unroutable(result: object) -> bool:
    return isinstance(result, PublishError)
