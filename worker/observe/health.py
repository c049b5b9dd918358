"""The worker's HTTP endpoints: `/metrics` (Prometheus), `/healthz` and `/readyz`.

The backlog gauges (pending requests by OC, oldest pending age, queue depths, unsent events, the
review backlog and lag, the last purge) are read from PostgreSQL and RabbitMQ when Prometheus
scrapes, at most every few seconds: no loop polls for them between scrapes. Every replica reports
the same backlog; aggregate with max().
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import structlog
from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from worker.observe.failures import AMQP_ERRORS, DB_ERRORS
from worker.observe.metrics import Metrics
from worker.settings import ConfigError

log = structlog.get_logger()
_REFRESH_SECONDS = 5.0
_CHECK_TIMEOUT = 2.0
_BACKLOG = """
SELECT code_oc, count(*) AS pending, extract(epoch FROM now() - min(received_at)) AS oldest
FROM photo_requests WHERE status = 'pending' GROUP BY code_oc
"""
_REVIEW_BACKLOG = """
SELECT count(*) AS waiting,
    coalesce(extract(epoch FROM now() - min(queued_at)), 0)::float8 AS oldest
FROM request_reviews WHERE reviewed_at IS NULL
"""
_LAST_PURGE = """
SELECT extract(epoch FROM started_at)::float8 AS at, deleted::text AS deleted
FROM purge_runs ORDER BY id DESC LIMIT 1
"""


Check = Callable[[], Awaitable[str | None]]


@dataclass(frozen=True)
class BrokerView:
    """What readiness and the queue gauges look at; `queues[0]` is the work queue."""

    connection: AbstractRobustConnection
    consumer_channel: AbstractRobustChannel
    publisher_channel: AbstractRobustChannel
    queues: tuple[str, ...]


class Monitor:
    def __init__(
        self,
        metrics: Metrics,
        pool: asyncpg.Pool,
        broker: BrokerView,
        ocs: frozenset[str],
        storage_check: Check,
        storage_every: float,
    ) -> None:
        """`storage_check` says what is wrong with the photo store, if anything: it writes and
        deletes a small object, so while the store works it runs every `storage_every` seconds,
        not at each /readyz call."""
        self._metrics = metrics
        self._pool = pool
        self._connection = broker.connection
        self._channel = broker.consumer_channel
        self._side_channel = broker.publisher_channel
        self._queues = broker.queues
        self._ocs = ocs
        self._storage_check = storage_check
        self._storage_every = storage_every
        self._storage: tuple[float, str | None] = (-storage_every, None)
        self.consumer_tag: str | None = None
        self.consumes = True  # False in a review-only replica: no consumer to be ready with
        self._refreshed = 0.0
        self._runner: web.AppRunner | None = None

    async def start(self, host: str, port: int) -> int:
        """Serve on host:port (0: any free port); returns the port."""
        app = web.Application()
        app.router.add_get("/metrics", self._metrics_page)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, host, port).start()
        except OSError as exc:
            await self._runner.cleanup()
            raise ConfigError(
                f"WORKER_METRICS_PORT: cannot serve on {host}:{port} ({exc.strerror}); another"
                " process uses it? Choose another port, or 0 for any free one"
            ) from None
        bound: int = self._runner.addresses[0][1]
        log.info("serving metrics and health", port=bound)
        return bound

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _healthz(self, _: web.Request) -> web.Response:
        # Answering at all shows that the process and its event loop are alive.
        return web.json_response({"status": "ok"})

    async def _readyz(self, _: web.Request) -> web.Response:
        problems = await self._problems()
        if problems:
            return web.json_response({"status": "not ready", "reasons": problems}, status=503)
        return web.json_response({"status": "ready"})

    async def _problems(self) -> list[str]:
        checks = (self._broker_problem(), self._db_problem(), self._storage_problem())
        found = [p for p in await asyncio.gather(*checks) if p]
        self._metrics.ready.set(0 if found else 1)
        return found

    async def _storage_problem(self) -> str | None:
        checked, problem = self._storage
        if time.monotonic() - checked >= self._storage_every or problem is not None:
            problem = await self._storage_check()
            self._storage = (time.monotonic(), problem)
        return problem

    async def _broker_problem(self) -> str | None:
        if not self._connection.connected.is_set():
            return "RabbitMQ: not connected"
        if not self.consumes:
            return None
        if self._channel.is_closed or self.consumer_tag is None:
            return "RabbitMQ: no consuming channel"
        try:
            channel = await asyncio.wait_for(self._channel.get_underlay_channel(), _CHECK_TIMEOUT)
        except (*AMQP_ERRORS, RuntimeError) as exc:
            return f"RabbitMQ: channel unavailable ({exc!r})"
        # After a reconnection the channel can come back without its consumer (aio-pika #231).
        # `consumers` is aiormq's registry of the consumers this channel delivers to.
        consumers: dict[str, object] = getattr(channel, "consumers", {})
        if self.consumer_tag not in consumers:
            return f"RabbitMQ: no consumer on {self._queues[0]}"
        return None

    async def _db_problem(self) -> str | None:
        try:
            await self._pool.fetchval("SELECT 1", timeout=_CHECK_TIMEOUT)
        except DB_ERRORS as exc:
            return f"PostgreSQL: {exc!r}"
        return None

    async def _metrics_page(self, _: web.Request) -> web.Response:
        if time.monotonic() - self._refreshed > _REFRESH_SECONDS:
            self._refreshed = time.monotonic()
            await self._problems()
            await self._refresh_backlog()
        body = generate_latest(self._metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _refresh_backlog(self) -> None:
        try:
            rows = await self._pool.fetch(_BACKLOG, timeout=_CHECK_TIMEOUT)
            unsent = await self._pool.fetchval(
                "SELECT count(*) FROM outbox WHERE sent_at IS NULL", timeout=_CHECK_TIMEOUT
            )
            review = await self._pool.fetchrow(_REVIEW_BACKLOG, timeout=_CHECK_TIMEOUT)
        except DB_ERRORS as exc:
            self._metrics.errors.labels("database").inc()
            log.warning("could not read the backlog for /metrics", error=repr(exc))
        else:
            self._set_backlog(rows, int(unsent))
            if review is not None:
                self._metrics.review_backlog.set(review["waiting"])
                self._metrics.review_oldest_age.set(review["oldest"])
        await self._refresh_purge()
        await self.queue_view()

    async def queue_view(self) -> dict[str, dict[str, int]]:
        """Each queue's depth and consumers, as the broker says now (the gauges are set too);
        a queue that could not be read is left out."""
        seen = {}
        for queue in self._queues:
            declared = await self._measure_queue(queue)
            if declared is not None:
                messages, consumers = declared
                self._metrics.queue_messages.labels(queue).set(messages)
                seen[queue] = {"messages": messages, "consumers": consumers}
        return seen

    async def _refresh_purge(self) -> None:
        try:
            run = await self._pool.fetchrow(_LAST_PURGE, timeout=_CHECK_TIMEOUT)
        except DB_ERRORS as exc:
            log.warning("could not read the last purge for /metrics", error=repr(exc))
            return
        if run is not None:
            self._metrics.purge_last_run.set(run["at"])
            for table, count in json.loads(run["deleted"]).items():
                self._metrics.purge_rows.labels(table).set(count)

    def _set_backlog(self, rows: list[asyncpg.Record], unsent: int) -> None:
        found = {row["code_oc"]: row for row in rows}
        for code in self._ocs | found.keys():
            row = found.get(code)
            self._metrics.requests_pending.labels(code).set(row["pending"] if row else 0)
            self._metrics.oldest_pending_age.labels(code).set(float(row["oldest"]) if row else 0)
        self._metrics.outbox_unsent.set(unsent)

    async def _measure_queue(self, name: str) -> tuple[int, int] | None:
        # On the raw channel: a robust channel would remember every passive declaration made
        # here in order to replay it after a reconnection, one more at each scrape.
        try:
            async with asyncio.timeout(_CHECK_TIMEOUT):
                channel = await self._side_channel.get_underlay_channel()
                declared = await channel.queue_declare(name, passive=True)
        except (*AMQP_ERRORS, RuntimeError) as exc:
            self._metrics.errors.labels("broker").inc()
            log.warning("could not read a queue depth", queue=name, error=repr(exc))
            return None
        return declared.message_count or 0, declared.consumer_count or 0
