"""The schedule runs on PostgreSQL's clock: a worker whose own clock is minutes late (here made
so with libfaketime) polls a waiting request at the pace of the backoff, not at every wake-up."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest

from tests.harness import Broker, cr_stoc, load_test_partners, make_settings
from tests.process import ProcessFactory
from tests.services import wait_until
from worker.simulator import Simulator

pytestmark = [pytest.mark.services, pytest.mark.slow]

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


async def _polls(db: asyncpg.Pool, message_id: str) -> int:
    return int(
        await db.fetchval(
            "SELECT count(*) FROM request_attempts WHERE message_id = $1", uuid.UUID(message_id)
        )
    )


async def test_a_worker_minutes_late_keeps_the_backoff(
    spawn: ProcessFactory,
    database_url: str,
    amqp_url: str,
    tmp_path: Path,
    simulator: Simulator,
    broker: Broker,
    db: asyncpg.Pool,
) -> None:
    assert LIBFAKETIME.is_file(), "apt-get install faketime (.ci/run does)"
    settings = make_settings(
        database_url, amqp_url, tmp_path, retry_initial_seconds=2, retry_max_seconds=2
    )
    load_test_partners(settings, simulator.base_url)
    late = {"LD_PRELOAD": str(LIBFAKETIME), "FAKETIME": "-5m", "FAKETIME_DONT_RESET": "1"}
    worker = spawn(settings, "late", late)
    try:
        await wait_until(lambda: _consuming(broker), timeout=30, what="the worker to consume")
        message = cr_stoc(intervention="SKEW:after=never")
        await broker.publish(message)
        await wait_until(lambda: _polls(db, message["messageId"]), what="a first poll")
        await asyncio.sleep(6)  # the window over which polls are counted
        polls = await _polls(db, message["messageId"])
        ahead = await db.fetchval(
            "SELECT next_attempt_at - now() FROM photo_requests WHERE message_id = $1",
            uuid.UUID(message["messageId"]),
        )
    finally:
        assert worker.terminate() == 0, worker.log()[-2000:]
    # One poll, then one every 1 to 2 s: at most 7 in the window (hundreds with the skew).
    assert 2 <= polls <= 8
    assert ahead.total_seconds() > -1  # the next attempt is in the database's future


async def _consuming(broker: Broker) -> bool:
    return await broker.consumers() > 0
