"""`worker purge`: what goes, what stays, in bounded batches, objects included (moto S3)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import boto3
import pytest

from tests.ops import history_rows as rows
from tests.process import run_command
from worker.ops.history import ATTEMPTS, purge_batch
from worker.ops.purge import Retention, purge
from worker.photos.storage import PhotoStore, open_store
from worker.settings import Settings

pytestmark = pytest.mark.services

DAY = timedelta(days=1)
HISTORY = Retention(90 * DAY, 30 * DAY, 90 * DAY, None, batch=2, pause=0)


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    yield connection
    await connection.close()


async def test_old_history_goes_recent_history_and_pending_requests_attempts_stay(
    db: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    old_done = await rows.request(db, "completed", 200 * DAY, attempts=5)
    recent = await rows.request(db, "failed", 10 * DAY, attempts=2)
    # Pending for 200 days (refetched again and again): its attempts are its live history.
    waiting = await rows.request(db, "pending", 200 * DAY, attempts=3)
    sent_old = await rows.event(db, old_done, 40 * DAY, sent=True)
    unsent_old = await rows.event(db, old_done, 40 * DAY, sent=False)
    sent_recent = await rows.event(db, recent, 2 * DAY, sent=True)
    dead_old, dead_recent = await rows.dead_letter(db, 100 * DAY), await rows.dead_letter(db, DAY)

    report = await purge(conn, HISTORY, None)

    assert dict(report.deleted) == {"attempts": 5, "events": 1, "dead_letters": 1}
    assert await rows.count(db, "request_attempts", "message_id = $1", old_done) == 0
    assert await rows.count(db, "request_attempts", "message_id = $1", recent) == 2
    assert await rows.count(db, "request_attempts", "message_id = $1", waiting) == 3
    assert {r["id"] for r in await db.fetch("SELECT id FROM outbox")} == {unsent_old, sent_recent}
    assert sent_old not in {r["id"] for r in await db.fetch("SELECT id FROM outbox")}
    assert [r["id"] for r in await db.fetch("SELECT id FROM dead_letters")] == [dead_recent]
    assert dead_old != dead_recent
    # The requests themselves are the product: kept (WORKER_KEEP_FINISHED is empty).
    assert await rows.count(db, "photo_requests") == 3
    run = await db.fetchrow("SELECT deleted, run_by FROM purge_runs")
    assert run is not None
    assert '"attempts": 5' in run["deleted"]


async def test_a_batch_deletes_at_most_its_size_and_the_walk_stops_at_recent_rows(
    db: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    await rows.request(db, "completed", 200 * DAY, attempts=7)
    await rows.request(db, "completed", DAY, attempts=3)
    cutoff = await conn.fetchval("SELECT now() - interval '90 days'")
    first = await purge_batch(conn, ATTEMPTS, 0, 3, cutoff)
    assert (first.deleted, first.old, first.more) == (3, 3, True)
    assert await rows.count(db, "request_attempts") == 7

    report = await purge(conn, Retention(90 * DAY, None, None, None, batch=3, pause=0), None)
    assert report.deleted["attempts"] == 4
    # Four old ones left, in batches of 3: 3 old; 1 old and 2 recent; the third batch holds
    # no old row, and the walk stops there, before the rest of the table.
    assert report.batches == 3
    assert await rows.count(db, "request_attempts") == 3


async def test_dry_run_counts_and_deletes_nothing(
    db: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    done = await rows.request(db, "completed", 200 * DAY, attempts=4)
    await rows.event(db, done, 40 * DAY, sent=True)
    report = await purge(conn, HISTORY, None, dry_run=True)
    assert dict(report.deleted) == {"attempts": 4, "events": 1, "dead_letters": 0}
    assert await rows.count(db, "request_attempts") == 4
    assert await rows.count(db, "outbox") == 1
    assert await rows.count(db, "purge_runs") == 0


async def test_a_second_purge_gives_way_to_the_running_one(
    database_url: str, conn: asyncpg.Connection
) -> None:
    other = await asyncpg.connect(database_url)
    try:
        await other.execute("SELECT pg_advisory_lock(x'70686F746F7075'::bigint)")
        report = await purge(conn, HISTORY, None)
    finally:
        await other.close()
    assert report.skipped
    assert not report.deleted


@pytest.fixture
def s3_store(moto_endpoint: str, s3_bucket: str) -> PhotoStore:
    return open_store(
        Settings(
            _env_file=None,  # type: ignore[call-arg]
            storage_url=f"s3://{s3_bucket}/photos",
            aws_endpoint_url=moto_endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",  # type: ignore[arg-type]
            aws_region="us-east-1",
        )
    )


def _keys(moto_endpoint: str, bucket: str) -> set[str]:
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {item["Key"].removeprefix("photos/") for item in listed}


async def test_finished_requests_go_with_their_photos_and_objects_when_configured(
    db: asyncpg.Pool,
    conn: asyncpg.Connection,
    s3_store: PhotoStore,
    moto_endpoint: str,
    s3_bucket: str,
) -> None:
    old = await rows.request(db, "completed", 400 * DAY, attempts=2)
    recent = await rows.request(db, "completed", 5 * DAY, attempts=2)
    shared, own, new = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    keys = {
        "own": await rows.photo(db, old, own),
        "shared": await rows.photo(db, old, shared),
        "new": await rows.photo(db, recent, new),
    }
    await rows.photo(db, recent, shared)  # listed again by a recent request: kept
    await rows.finding(db, old)
    await rows.event(db, old, 400 * DAY, sent=True)
    unsent = await rows.request(db, "failed", 400 * DAY)
    await rows.event(db, unsent, 400 * DAY, sent=False)  # not published yet: kept
    pending = await rows.request(db, "pending", 400 * DAY)
    for key in keys.values():
        await s3_store.put(key, _body(), "image/jpeg")

    retention = Retention(None, None, None, 365 * DAY, batch=10, pause=0)
    report = await purge(conn, retention, s3_store)

    assert report.deleted["requests"] == 1
    assert report.deleted["photos"] == 1
    assert report.deleted["attempts"] == 2
    assert report.deleted["findings"] == 1
    assert report.objects == 1
    remaining = {r["message_id"] for r in await db.fetch("SELECT message_id FROM photo_requests")}
    assert remaining == {recent, unsent, pending}
    assert {r["photo_id"] for r in await db.fetch("SELECT photo_id FROM photos")} == {shared, new}
    assert await rows.count(db, "photo_request_photos", "message_id = $1", old) == 0
    assert await rows.count(db, "photo_findings") == 0
    assert await rows.count(db, "outbox", "message_id = $1", old) == 0
    stored = await asyncio.to_thread(_keys, moto_endpoint, s3_bucket)
    assert stored == {keys["shared"], keys["new"]}


async def test_finished_requests_are_walked_in_batches(
    db: asyncpg.Pool, conn: asyncpg.Connection, tmp_path: object
) -> None:
    for _ in range(25):
        await rows.request(db, "completed", 400 * DAY)
    await rows.request(db, "completed", DAY)
    retention = Retention(None, None, None, 365 * DAY, batch=100, pause=0)  # 10 requests a batch
    store = open_store(Settings(_env_file=None, storage_url=f"file://{tmp_path}"))  # type: ignore[call-arg]
    dry = await purge(conn, retention, store, dry_run=True)
    assert dry.deleted["requests"] == 25
    assert dry.batches == 3
    report = await purge(conn, retention, store)
    assert report.deleted["requests"] == 25
    assert report.batches == 3
    assert await rows.count(db, "photo_requests") == 1


def _body() -> object:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"\xff\xd8\xff"

    return chunks()


def _run(database_url: str, amqp_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"WORKER_DATABASE_URL": database_url, "WORKER_AMQP_URL": amqp_url}
    env |= {"WORKER_KEEP_EVENTS": "20d", "WORKER_LOG_FORMAT": "json"}
    return run_command(env, *args)


async def test_the_command_reports_what_it_deleted_and_status_shows_the_last_run(
    db: asyncpg.Pool, database_url: str, amqp_url: str
) -> None:
    done = await rows.request(db, "completed", 100 * DAY, attempts=3)
    await rows.event(db, done, 25 * DAY, sent=True)

    dry = await asyncio.to_thread(_run, database_url, amqp_url, "purge", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["deleted"] == {"attempts": 3, "events": 1, "dead_letters": 0}
    assert await rows.count(db, "request_attempts") == 3

    real = await asyncio.to_thread(_run, database_url, amqp_url, "purge")
    assert real.returncode == 0, real.stderr
    assert "Retention: attempts 90d, sent events 20d, dead letters 90d" in real.stdout
    assert re.search(r"attempts\s+3\n\s+events\s+1\n", real.stdout), real.stdout
    [line] = [json.loads(x) for x in real.stderr.splitlines() if "purge finished" in x]
    assert line["deleted"] == {"attempts": 3, "events": 1, "dead_letters": 0}
    assert await rows.count(db, "request_attempts") == 0

    status = await asyncio.to_thread(_run, database_url, amqp_url, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["last_purge"]["deleted"]["attempts"] == 3
    text = (await asyncio.to_thread(_run, database_url, amqp_url, "status")).stdout
    assert "deleted attempts 3, dead_letters 0, events 1;" in text
