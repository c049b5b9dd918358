"""A running worker says it is alive, with what it sees of its queues, and says when it stops."""

from __future__ import annotations

import json

import asyncpg
import pytest

from tests.harness import StartWorker
from tests.services import wait_until

pytestmark = pytest.mark.services


async def _row(db: asyncpg.Pool, instance: str) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT * FROM worker_heartbeats WHERE instance = $1", instance)


async def test_a_worker_beats_with_its_queues_and_stops_cleanly(
    start_worker: StartWorker, db: asyncpg.Pool
) -> None:
    worker = await start_worker({"heartbeat_seconds": 1})
    instance = worker.settings.instance

    async def beating() -> bool:
        row = await _row(db, instance)
        return row is not None and "photos.cr_stoc" in json.loads(row["queues"])

    await wait_until(beating, 20, "the worker's first heartbeat with its queues")
    row = await _row(db, instance)
    assert row is not None
    assert row["stopped_at"] is None
    assert row["roles"]
    queues = json.loads(row["queues"])
    assert queues["photos.cr_stoc"]["consumers"] >= 1
    first_seen = row["seen_at"]

    async def seen_again() -> bool:
        again = await _row(db, instance)
        return again is not None and again["seen_at"] > first_seen

    await wait_until(seen_again, 10, "a second heartbeat")
    await worker.stop()
    row = await _row(db, instance)
    assert row is not None
    assert row["stopped_at"] is not None
