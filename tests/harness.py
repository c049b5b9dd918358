"""A worker run in-process against the test's own database, vhost and simulator."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

from tests.services import wait_until
from worker.events.topology import (
    DEAD_QUEUE,
    EXCHANGE,
    INPUT_ROUTING_KEY,
    QUEUE,
    QueuePolicy,
    declare,
)
from worker.observe.metrics import Metrics
from worker.partners.config import Partner, load_partners
from worker.review.processes import Check
from worker.service import run_worker
from worker.settings import Settings

FINAL = ("completed", "unavailable", "expired", "failed")
STATIC_TOKEN = "t0ken-static-9f8e7d"
OAUTH_CLIENT, OAUTH_SECRET = "oi-client", "s3cret-client-value-42"
OI_CODE = "OITS"


def make_settings(database_url: str, amqp_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "amqp_url": amqp_url,
        "storage_url": f"file://{tmp_path / 'photos'}",
        "partners_file": tmp_path / "partners.toml",
        "oi_code": OI_CODE,
        "retry_initial_seconds": 0.05,
        "retry_max_seconds": 0.2,
        "poll_seconds": 0.05,
        "lease_seconds": 3,
        "shutdown_grace_seconds": 5,
        "concurrency": 8,
        "instance": f"test-{uuid.uuid4().hex[:6]}",
        "metrics_port": 0,
        "metrics_host": "127.0.0.1",
        # The framing rules read labels and compare pairs (OCR: seconds per photo): off unless
        # a test asks for them (tests/review/test_framing.py).
        "pto_reference_pattern": "",
        "qa_same_spot_min_inliers": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def partners_toml(base_url: str, **per_oc: dict[str, Any]) -> str:
    """OCAA (static token) and OCOA (OAuth2), plus or overridden by `per_oc` tables."""
    tables: dict[str, dict[str, Any]] = {
        "OCAA": {"base_url": base_url, "token": STATIC_TOKEN},
        "OCOA": {
            "base_url": base_url,
            "oauth2": {
                "token_url": f"{base_url}/oauth/token",
                "client_id": OAUTH_CLIENT,
                "client_secret_env": "OCOA_SECRET",
            },
        },
    }
    for code, table in per_oc.items():
        tables[code] = {**tables.get(code, {"base_url": base_url, "token": STATIC_TOKEN}), **table}
    return "\n".join(_table(f"oc.{code}", table) for code, table in tables.items())


def _table(name: str, table: dict[str, Any]) -> str:
    lines, subtables = [f"[{name}]"], []
    for key, value in table.items():
        if isinstance(value, dict):
            subtables.append(_table(f"{name}.{key}", value))
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n\n" + "".join(subtables)


def load_test_partners(
    settings: Settings, base_url: str, **per_oc: dict[str, Any]
) -> dict[str, Partner]:
    settings.partners_file.write_text(partners_toml(base_url, **per_oc), encoding="utf-8")
    return load_partners(settings.partners_file, {"OCOA_SECRET": OAUTH_SECRET})


def cr_stoc(
    code_oc: str = "OCAA", intervention: str | None = "REF-1", **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"messageId": str(uuid.uuid4()), "flux": "CR_STOC", "codeOC": code_oc}
    if intervention is not None:
        body["referenceCommandeSousTraitantOI"] = intervention
    body.update(extra)
    return body


class Broker:
    """The test's side of RabbitMQ: publishes CR_STOC messages, collects result events."""

    def __init__(self, amqp_url: str, policy: QueuePolicy | None = None) -> None:
        self.amqp_url = amqp_url
        self.policy = policy or QueuePolicy()
        self.events: list[dict[str, Any]] = []
        self._connection: AbstractConnection | None = None
        self.channel: AbstractChannel

    async def open(self) -> Broker:
        self._connection = await aio_pika.connect(self.amqp_url)
        self.channel = await self._connection.channel()
        topology = await declare(self.channel, self.policy)
        self.events_queue = await self.channel.declare_queue(exclusive=True)
        await self.events_queue.bind(topology.exchange, "photos.*")
        await self.events_queue.consume(self._keep_event)
        return self

    async def _keep_event(self, message: AbstractIncomingMessage) -> None:
        event = json.loads(message.body)
        event["_routing_key"] = message.routing_key
        self.events.append(event)
        await message.ack()

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()

    async def publish(self, body: dict[str, Any] | bytes, **properties: Any) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        exchange = await self.channel.get_exchange(EXCHANGE)
        message = aio_pika.Message(
            payload,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            **properties,
        )
        await exchange.publish(message, INPUT_ROUTING_KEY)

    async def consumers(self) -> int:
        queue = await self.channel.declare_queue(QUEUE, passive=True)
        return int(queue.declaration_result.consumer_count or 0)

    async def queue_depth(self, name: str = QUEUE) -> int:
        queue = await self.channel.declare_queue(name, passive=True)
        return int(queue.declaration_result.message_count or 0)

    async def dead_letters(self) -> list[AbstractIncomingMessage]:
        queue = await self.channel.get_queue(DEAD_QUEUE)
        found = []
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            found.append(message)
        return found

    async def run(
        self, db: asyncpg.Pool, body: dict[str, Any], timeout: float = 20
    ) -> asyncpg.Record:
        """Publish one CR_STOC message and wait for its request to reach a final status."""
        await self.publish(body)
        return await wait_for_status(db, body["messageId"], timeout=timeout)

    def events_for(self, message_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["messageId"] == message_id]


class InProcessWorker:
    """`run_worker` as a task of the test's event loop."""

    def __init__(
        self,
        settings: Settings,
        partners: dict[str, Partner],
        broker: Broker,
        review_check: Check | None = None,
    ) -> None:
        self.settings = settings
        self.partners = partners
        self.metrics = Metrics()
        self._broker = broker
        self._review_check = review_check
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.monitor_url = ""

    async def start(self) -> InProcessWorker:
        """Start, and return once it consumes (its /readyz would say 200)."""
        self._stop = asyncio.Event()
        self.monitor_url = ""
        self._task = asyncio.create_task(
            run_worker(
                self.settings,
                self.partners,
                self._stop,
                self.metrics,
                self._started,
                self._review_check,
            )
        )
        await wait_until(self._consuming, what="the worker to consume")
        return self

    def _started(self, port: int) -> None:
        self.monitor_url = f"http://127.0.0.1:{port}"

    async def _consuming(self) -> bool:
        if self._task is not None and self._task.done():
            self._task.result()  # raises what made the worker stop
        if not self.settings.plays("ingest"):
            return bool(self.monitor_url)  # a review-only worker consumes nothing
        return bool(self.monitor_url) and await self._broker.consumers() > 0

    async def stop(self) -> None:
        """Stop it (again: nothing happens)."""
        if self._task is not None:
            self._stop.set()
            await asyncio.wait_for(self._task, 30)
            self._task = None


StartWorker = Callable[..., Awaitable[InProcessWorker]]


async def wait_for_reviews(pool: asyncpg.Pool, timeout: float = 30) -> None:
    """Until no request waits for its photo review (its findings are then all written)."""

    async def none_waiting() -> bool:
        return not await pool.fetchval(
            "SELECT count(*) FROM request_reviews WHERE reviewed_at IS NULL"
        )

    await wait_until(none_waiting, timeout, "every review to be written")


async def wait_for_status(
    pool: asyncpg.Pool, message_id: str, statuses: tuple[str, ...] = FINAL, timeout: float = 20
) -> asyncpg.Record:
    async def reached() -> asyncpg.Record | None:
        row = await pool.fetchrow(
            "SELECT * FROM photo_requests WHERE message_id = $1", uuid.UUID(message_id)
        )
        return row if row is not None and row["status"] in statuses else None

    record: asyncpg.Record = await wait_until(
        reached, timeout, f"request {message_id} to reach {statuses}"
    )
    return record
