"""/metrics, /healthz and /readyz of a running worker."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.harness import Broker, InProcessWorker, cr_stoc, wait_for_status
from tests.services import rabbitmqctl, wait_until

pytestmark = pytest.mark.services


async def _get(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        body = await response.json() if "json" in response.content_type else await response.text()
        return response.status, body


def _sample(page: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition text, 0 when absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in page.splitlines():
        match = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if match and ",".join(sorted((match.group(1) or "").split(","))) == wanted:
            return float(match.group(2))
    return 0.0


async def test_metrics_move_with_the_work(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    await broker.publish(b"not json")
    done = cr_stoc(intervention="METRICS:photos=3:after=1")
    failed = cr_stoc(intervention="METRICS-403:status=403")
    waiting = cr_stoc(intervention="METRICS-WAIT:after=never:retry_after=600")
    for message in (done, failed, waiting):
        await broker.publish(message)
    for message in (done, failed):
        await wait_for_status(db, message["messageId"])
    await wait_for_status(db, waiting["messageId"], statuses=("pending",))
    await wait_until(lambda: _unsent_is_zero(db), what="the events to be published")
    await db.execute(  # as `worker purge` records a run
        "INSERT INTO purge_runs (started_at, seconds, deleted) VALUES (now(), 1.5, $1::jsonb)",
        '{"attempts": 7, "events": 2}',
    )

    status, page = await _get(f"{worker.monitor_url}/metrics")
    assert status == 200
    assert _sample(page, "worker_messages_received_total") == 4
    assert _sample(page, "worker_messages_settled_total", outcome="accepted") == 3
    assert _sample(page, "worker_messages_dead_lettered_total", reason="not_json") == 1
    assert (
        _sample(
            page, "worker_partner_calls_total", oc="OCAA", operation="intervention", status="202"
        )
        >= 2
    )
    assert (
        _sample(page, "worker_partner_calls_total", oc="OCAA", operation="photo", status="200") == 3
    )
    assert _sample(page, "worker_partner_call_seconds_count", oc="OCAA", operation="photo") == 3
    assert _sample(page, "worker_photos_stored_total", oc="OCAA") == 3
    assert _sample(page, "worker_photo_bytes_stored_total", oc="OCAA") > 1000
    assert _sample(page, "worker_requests_finished_total", oc="OCAA", status="completed") == 1
    assert _sample(page, "worker_requests_finished_total", oc="OCAA", status="failed") == 1
    assert _sample(page, "worker_retries_scheduled_total", oc="OCAA", reason="not_ready") >= 2
    assert _sample(page, "worker_requests_pending", oc="OCAA") == 1
    assert _sample(page, "worker_requests_pending", oc="OCOA") == 0
    assert _sample(page, "worker_oldest_pending_age_seconds", oc="OCAA") > 0
    assert _sample(page, "worker_queue_messages", queue="photos.cr_stoc.dead") == 1
    assert _sample(page, "worker_events_published_total") == 2
    assert _sample(page, "worker_outbox_unsent") == 0
    assert "worker_attempts_in_flight" in page
    assert _sample(page, "worker_ready") == 1
    assert _sample(page, "worker_purge_last_rows", table="attempts") == 7
    assert _sample(page, "worker_purge_last_rows", table="events") == 2
    assert _sample(page, "worker_purge_last_run_timestamp_seconds") > 1.7e9


async def _unsent_is_zero(db: asyncpg.Pool) -> bool:
    return bool(await db.fetchval("SELECT count(*) = 0 FROM outbox WHERE sent_at IS NULL"))


async def test_healthz_answers(worker: InProcessWorker) -> None:
    assert await _get(f"{worker.monitor_url}/healthz") == (200, {"status": "ok"})


async def test_readyz_follows_rabbitmq(worker: InProcessWorker, amqp_url: str) -> None:
    assert (await _get(f"{worker.monitor_url}/readyz"))[0] == 200

    rabbitmqctl("close_all_connections", "-p", amqp_url.rsplit("/", 1)[1], "test")
    status, body = await wait_until(lambda: _not_ready(worker), what="/readyz to say 503")
    assert status == 503
    assert any(reason.startswith("RabbitMQ") for reason in body["reasons"])

    await wait_until(lambda: _ready(worker), timeout=30, what="/readyz to say 200 again")


async def test_readyz_follows_postgresql(
    worker: InProcessWorker, db: asyncpg.Pool, database_url: str
) -> None:
    name = database_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        _, body = await wait_until(lambda: _not_ready(worker), what="/readyz to say 503")
        assert any(reason.startswith("PostgreSQL") for reason in body["reasons"])
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await wait_until(lambda: _ready(worker), timeout=30, what="/readyz to say 200 again")
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()


async def _not_ready(worker: InProcessWorker) -> tuple[int, Any] | None:
    answer = await _get(f"{worker.monitor_url}/readyz")
    return answer if answer[0] == 503 else None


async def _ready(worker: InProcessWorker) -> bool:
    return (await _get(f"{worker.monitor_url}/readyz"))[0] == 200


async def test_readyz_follows_storage(worker: InProcessWorker, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    assert (await _get(f"{worker.monitor_url}/readyz"))[0] == 200
    photos.rename(tmp_path / "away")
    photos.write_text("not a directory any more")
    try:
        _, body = await wait_until(lambda: _not_ready(worker), what="/readyz to say 503")
        [reason] = body["reasons"]
        assert reason.startswith(f"storage file://{photos}: cannot write")
    finally:
        photos.unlink()
        (tmp_path / "away").rename(photos)
    await wait_until(lambda: _ready(worker), what="/readyz to say 200 again")
