"""Crashes, replicas and broker outages: every request completes once, nothing is lost."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from tests.harness import (
    Broker,
    InProcessWorker,
    cr_stoc,
    load_test_partners,
    make_settings,
    wait_for_status,
)
from tests.nodes import PrivatePostgres, PrivateRabbit
from tests.process import ProcessFactory
from tests.services import rabbitmqctl, wait_until
from worker.settings import Settings
from worker.simulator import Simulator

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture
def process_settings(
    database_url: str, amqp_url: str, tmp_path: Path, simulator: Simulator
) -> Settings:
    settings = make_settings(database_url, amqp_url, tmp_path, lease_seconds=2, concurrency=8)
    load_test_partners(settings, simulator.base_url)
    return settings


async def _count(db: asyncpg.Pool, sql: str, *args: object) -> int:
    return int(await db.fetchval(sql, *args))


async def _all_final(db: asyncpg.Pool, messages: list[dict[str, str]]) -> bool:
    ids = [uuid.UUID(m["messageId"]) for m in messages]
    done = await _count(
        db,
        "SELECT count(*) FROM photo_requests"
        " WHERE message_id = ANY($1::uuid[]) AND status <> 'pending'",
        ids,
    )
    return done == len(messages)


async def _check_stored(
    db: asyncpg.Pool, tmp_path: Path, photos_each: int, messages: list[dict[str, str]]
) -> None:
    ids = [uuid.UUID(m["messageId"]) for m in messages]
    statuses = await db.fetch("SELECT status, count(*) FROM photo_requests GROUP BY status")
    assert {r["status"]: r["count"] for r in statuses} == {"completed": len(messages)}
    assert await _count(
        db, "SELECT count(*) FROM photo_requests WHERE message_id = ANY($1::uuid[])", ids
    ) == len(messages)
    assert await _count(db, "SELECT count(*) FROM photo_request_photos") == photos_each * len(
        messages
    )
    assert await _count(db, "SELECT count(*) FROM photos") == photos_each * len(messages)
    # One final event per request; photos.reviewed come besides, at most one each.
    finals = "SELECT count(*) FROM outbox WHERE routing_key <> 'photos.reviewed'"
    assert await _count(db, finals) == len(messages)
    reviewed = "SELECT count(*) FROM outbox WHERE routing_key = 'photos.reviewed'"
    assert await _count(db, reviewed) <= len(messages)
    for photo in await db.fetch("SELECT storage_key, sha256 FROM photos"):
        data = (tmp_path / "photos" / photo["storage_key"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == photo["sha256"]


async def test_sigkill_in_the_middle_then_restart(
    spawn: ProcessFactory,
    process_settings: Settings,
    broker: Broker,
    db: asyncpg.Pool,
    tmp_path: Path,
) -> None:
    messages = [cr_stoc(intervention=f"KILL-{i}:photos=3:size=1m:slow=40") for i in range(8)]
    first = spawn(process_settings, "first")
    for message in messages[:6]:
        await broker.publish(message)
    # Kill it while photos are being written: some in storage, none recorded yet, leases held.
    await wait_until(lambda: _files(tmp_path), timeout=30, what="a first photo in storage")
    assert await _count(db, "SELECT count(*) FROM photo_requests WHERE lease_id IS NOT NULL") > 0
    first.kill()
    unfinished = await _count(db, "SELECT count(*) FROM photo_requests WHERE status = 'pending'")
    assert unfinished > 0
    for message in messages[6:]:
        await broker.publish(message)  # waits in the queue while no worker runs

    second = spawn(process_settings, "second")
    try:
        await wait_until(
            lambda: _all_final(db, messages), timeout=60, what="every request to finish"
        )
        await wait_until(lambda: _events_for_all(broker, messages), timeout=20, what="every event")
    finally:
        assert second.terminate() == 0, second.log()
    await _check_stored(db, tmp_path, 3, messages)
    taken_over = await _count(
        db, "SELECT count(DISTINCT message_id) FROM request_attempts WHERE worker = 'second'"
    )
    assert taken_over == unfinished + 2


async def _files(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "photos").rglob("*") if p.is_file()]


async def _events_for_all(broker: Broker, messages: list[dict[str, str]]) -> bool:
    return all(broker.events_for(m["messageId"]) for m in messages)


async def test_two_workers_share_the_queue_without_doing_anything_twice(
    spawn: ProcessFactory,
    process_settings: Settings,
    broker: Broker,
    db: asyncpg.Pool,
    tmp_path: Path,
) -> None:
    workers = [spawn(process_settings, name) for name in ("left", "right")]
    try:
        await wait_until(lambda: _consumers(broker, 2), timeout=30, what="two consumers")
        messages = [cr_stoc(intervention=f"PAIR-{i}:photos=2:after=1:slow=5") for i in range(40)]
        for message in messages:
            await broker.publish(message)
        await wait_until(
            lambda: _all_final(db, messages), timeout=60, what="every request to finish"
        )
    finally:
        codes = [w.terminate() for w in workers]
    assert codes == [0, 0], [w.log()[-2000:] for w in workers]
    await _check_stored(db, tmp_path, 2, messages)
    # Every request was asked exactly twice (one 202, one 200): no attempt ran on both workers.
    assert await _count(db, "SELECT count(*) FROM request_attempts") == 80
    per_worker = await db.fetch("SELECT worker, count(*) FROM request_attempts GROUP BY worker")
    assert {r["worker"] for r in per_worker} == {"left", "right"}


async def _consumers(broker: Broker, count: int) -> bool:
    return await broker.consumers() >= count


async def _reopened(broker: Broker) -> Broker:
    await broker.close()
    return await wait_until(lambda: _try_open(broker.amqp_url), timeout=60, what="the broker")


async def _try_open(amqp_url: str) -> Broker | None:
    try:
        return await Broker(amqp_url).open()
    except Exception:  # not back yet
        return None


async def test_consumption_resumes_after_connections_are_closed(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool, amqp_url: str
) -> None:
    vhost = amqp_url.rsplit("/", 1)[1]
    rabbitmqctl("close_all_connections", "-p", vhost, "test: connections closed")
    await _flowing_again(await _reopened(broker), db, "AFTER-CLOSE")


async def test_a_routine_reconnect_is_one_warning_line(
    spawn: ProcessFactory,
    process_settings: Settings,
    broker: Broker,
    db: asyncpg.Pool,
    amqp_url: str,
) -> None:
    worker = spawn(process_settings, "reconnecting")
    await wait_until(lambda: _consumers(broker, 1), timeout=30, what="the worker to consume")
    vhost = amqp_url.rsplit("/", 1)[1]
    rabbitmqctl("close_all_connections", "-p", vhost, "test: routine reconnect")
    await wait_until(
        lambda: _logged(worker.log_path, "RabbitMQ connection restored"), what="the reconnect"
    )
    await _flowing_again(await _reopened(broker), db, "AFTER-RECONNECT")
    assert worker.terminate() == 0
    lines = [json.loads(line) for line in worker.log().splitlines() if line.startswith("{")]
    warnings = [line for line in lines if line["level"] == "warning"]
    assert [line["event"] for line in warnings] == ["RabbitMQ connection lost; reconnecting"]
    assert "CONNECTION_FORCED" in warnings[0]["reason"]
    assert [line for line in lines if line["level"] in {"error", "critical"}] == []
    assert [line for line in lines if "exception" in line] == []


async def _logged(path: Path, text: str) -> bool:
    return text in path.read_text(errors="replace")


async def test_consumption_resumes_after_a_broker_restart(
    private_rabbit: PrivateRabbit,
    private_amqp_url: str,
    database_url: str,
    tmp_path: Path,
    simulator: Simulator,
    db: asyncpg.Pool,
) -> None:
    broker = await Broker(private_amqp_url).open()
    settings = make_settings(database_url, private_amqp_url, tmp_path)
    partners = load_test_partners(settings, simulator.base_url)
    worker = await InProcessWorker(settings, partners, broker).start()
    try:
        waiting = cr_stoc(intervention="ACROSS-RESTART:after=3")
        await broker.publish(waiting)
        await wait_for_status(db, waiting["messageId"], statuses=("pending",))
        await asyncio.to_thread(private_rabbit.restart)
        await _flowing_again(await _reopened(broker), db, "AFTER-RESTART", waiting)
    finally:
        await worker.stop()


async def test_work_resumes_after_a_database_restart(
    private_postgres: PrivatePostgres,
    private_database_url: str,
    amqp_url: str,
    tmp_path: Path,
    simulator: Simulator,
    broker: Broker,
) -> None:
    settings = make_settings(private_database_url, amqp_url, tmp_path)
    partners = load_test_partners(settings, simulator.base_url)
    worker = await InProcessWorker(settings, partners, broker).start()
    db = await asyncpg.create_pool(private_database_url, min_size=1, max_size=2)
    assert db is not None
    try:
        messages = [cr_stoc(intervention=f"PG-RESTART-{i}:after=2:photos=2") for i in range(10)]
        for message in messages:
            await broker.publish(message)
        await wait_until(lambda: _count(db, "SELECT count(*) FROM request_attempts"), what="work")
        await asyncio.to_thread(private_postgres.restart, 2.0)  # a crash, down for two seconds
        await db.expire_connections()
        await wait_until(lambda: _all_final(db, messages), timeout=60, what="every request")
        statuses = await db.fetch("SELECT status, count(*) FROM photo_requests GROUP BY status")
        assert {r["status"]: r["count"] for r in statuses} == {"completed": 10}
        await wait_until(lambda: _events_for_all(broker, messages), what="every event")
    finally:
        await worker.stop()
        await db.close()


async def _flowing_again(
    broker: Broker, db: asyncpg.Pool, label: str, *earlier: dict[str, str]
) -> None:
    """The worker consumes again: a new message completes, and so do `earlier` ones."""
    try:
        await wait_until(
            lambda: _consumers(broker, 1), timeout=60, what="the worker to consume again"
        )
        message = cr_stoc(intervention=f"{label}:photos=1")
        await broker.publish(message)
        for m in (*earlier, message):
            assert (await wait_for_status(db, m["messageId"], timeout=30))["status"] == "completed"
        await wait_until(lambda: _events_for_all(broker, [message]), timeout=30, what="the event")
    finally:
        await broker.close()


async def test_sigterm_finishes_or_gives_back_within_the_grace_period(
    spawn: ProcessFactory,
    database_url: str,
    amqp_url: str,
    tmp_path: Path,
    simulator: Simulator,
    broker: Broker,
    db: asyncpg.Pool,
) -> None:
    settings = make_settings(database_url, amqp_url, tmp_path, shutdown_grace_seconds=2)
    load_test_partners(settings, simulator.base_url)
    # Each request takes ~6 s (3 photos of 1 MiB at 16 chunks x 120 ms): longer than the grace.
    messages = [cr_stoc(intervention=f"TERM-{i}:photos=3:size=1m:slow=120") for i in range(4)]
    worker = spawn(settings, "terminated")
    for message in messages:
        await broker.publish(message)
    await wait_until(lambda: _files(tmp_path), timeout=30, what="a photo in storage")

    started = time.monotonic()
    code = await asyncio.to_thread(worker.terminate)
    took = time.monotonic() - started

    assert code == 0, worker.log()[-3000:]
    assert took < settings.shutdown_grace_seconds + 5
    assert "attempts given back unfinished" in worker.log()
    given_back = await db.fetch("SELECT * FROM photo_requests WHERE status = 'pending'")
    assert given_back
    assert all(r["lease_id"] is None for r in given_back)
    assert all(r["next_attempt_at"] <= datetime.now(UTC) for r in given_back)

    restarted = spawn(settings, "restarted")
    try:
        await wait_until(lambda: _all_final(db, messages), timeout=60, what="every request")
    finally:
        assert restarted.terminate() == 0
    await _check_stored(db, tmp_path, 3, messages)


async def test_a_second_sigterm_exits_at_once(
    spawn: ProcessFactory,
    process_settings: Settings,
    broker: Broker,
    db: asyncpg.Pool,
    tmp_path: Path,
) -> None:
    worker = spawn(process_settings, "impatient")
    await wait_until(lambda: _consumers(broker, 1), timeout=30, what="the worker to consume")
    await broker.publish(cr_stoc(intervention="LONG:photos=3:size=1m:slow=500"))
    await wait_until(
        lambda: _count(db, "SELECT count(*) FROM photo_requests WHERE lease_id IS NOT NULL"),
        timeout=30,
        what="an attempt in flight",
    )
    started = time.monotonic()
    worker.signal(signal.SIGTERM)
    await asyncio.sleep(0.3)
    worker.signal(signal.SIGTERM)
    code = await asyncio.to_thread(worker.wait, 10)
    assert code == 130
    assert time.monotonic() - started < 3


async def test_sigterm_exits_in_time_even_with_the_services_gone(
    spawn: ProcessFactory,
    process_settings: Settings,
    broker: Broker,
    db: asyncpg.Pool,
    database_url: str,
    amqp_url: str,
) -> None:
    worker = spawn(process_settings, "stranded")
    await wait_until(lambda: _consumers(broker, 1), timeout=30, what="the worker to consume")
    await broker.publish(cr_stoc(intervention="STRANDED:after=never"))
    await wait_until(lambda: _count(db, "SELECT count(*) FROM request_attempts"), what="a poll")
    name = database_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        # The vhost disappears and the database refuses connections: nothing answers any more.
        rabbitmqctl("delete_vhost", amqp_url.rsplit("/", 1)[1])
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        await asyncio.sleep(1)
        started = time.monotonic()
        worker.signal(signal.SIGTERM)
        await asyncio.to_thread(worker.wait, 60)
        took = time.monotonic() - started
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
    assert took <= process_settings.shutdown_grace_seconds + 5 + 1, worker.log()[-2000:]
