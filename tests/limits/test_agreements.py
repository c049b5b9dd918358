"""The OCs' conditions of use on the real services, counted at the simulator: two worker
processes under one rate and one daily quota, a closed window, a breaker shared by replicas."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.harness import (
    OI_CODE,
    STATIC_TOKEN,
    Broker,
    cr_stoc,
    load_test_partners,
    make_settings,
)
from tests.process import ProcessFactory
from tests.services import wait_until
from worker.simulator import Simulator, SimulatorConfig
from worker.simulator import start as start_simulator
from worker.simulator.calls import CallRecord

pytestmark = pytest.mark.services
API = ("getPhotosByIntervention", "getPhoto")


async def _simulator(**config: Any) -> Simulator:
    return await start_simulator(
        SimulatorConfig(client_id=OI_CODE, tokens=frozenset({STATIC_TOKEN}), **config)
    )


@pytest.fixture
async def limited() -> AsyncIterator[Simulator]:
    # A little above the worker's 5/s, burst 3: a 429 would mean the worker broke the agreement.
    sim = await _simulator(rate=6.0, burst=4)
    yield sim
    await sim.close()


def _api_calls(sim: Simulator) -> list[CallRecord]:
    return [call for call in sim.calls if call.operation in API]


def _most_in_window(times: Sequence[float], window: float) -> int:
    times = sorted(times)
    return max(
        (sum(1 for t in times[i:] if t < start + window) for i, start in enumerate(times)),
        default=0,
    )


async def _statuses(db: asyncpg.Pool, messages: list[dict[str, Any]]) -> dict[str, int]:
    rows = await db.fetch(
        "SELECT status, count(*) FROM photo_requests WHERE message_id = ANY($1::uuid[])"
        " GROUP BY status",
        [uuid.UUID(m["messageId"]) for m in messages],
    )
    return {row["status"]: row["count"] for row in rows}


async def test_two_processes_keep_to_one_rate_and_one_daily_quota(
    spawn: ProcessFactory,
    database_url: str,
    amqp_url: str,
    tmp_path: Path,
    limited: Simulator,
    broker: Broker,
    db: asyncpg.Pool,
) -> None:
    settings = make_settings(database_url, amqp_url, tmp_path, concurrency=8)
    agreement = {"rate": {"per_second": 5, "burst": 3}, "quota": {"calls": 40, "timezone": "UTC"}}
    load_test_partners(settings, limited.base_url, OCAA=agreement)
    workers = [spawn(settings, name) for name in ("left", "right")]
    messages = [cr_stoc(intervention=f"RATE-{i}:photos=1") for i in range(30)]
    for message in messages:  # 60 calls wanted, 40 allowed today
        await broker.publish(message)
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)

    async def settled() -> bool:
        held = await db.fetchval(
            "SELECT count(*) FROM photo_requests WHERE status = 'pending'"
            " AND next_attempt_at >= $1 AND lease_id IS NULL",
            datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=UTC),
        )
        return int(held) + (await _statuses(db, messages)).get("completed", 0) == len(messages)

    try:
        await wait_until(settled, timeout=60, what="every request completed or held for tomorrow")
    finally:
        for worker in workers:
            assert worker.terminate() == 0, worker.log()
    calls = _api_calls(limited)
    assert len(calls) == 40
    assert [c.status for c in calls if c.status == 429] == []
    times = [c.at for c in calls]
    busiest = {w: _most_in_window(times, w) for w in (1.0, 4.0)}
    print(f"40 calls in {times[-1] - times[0]:.2f} s; most in 1 s / 4 s: {busiest}")
    assert busiest[1.0] <= 3 + 5
    assert busiest[4.0] <= 3 + 5 * 4
    # Both replicas called, and no request spent an attempt waiting for tomorrow.
    assert {w.instance for w in workers} == {
        r["worker"] for r in await db.fetch("SELECT DISTINCT worker FROM request_attempts")
    }
    spent = await db.fetch(
        "SELECT r.attempts, (SELECT count(*) FROM request_attempts a"
        " WHERE a.message_id = r.message_id) AS recorded FROM photo_requests r"
    )
    assert all(row["attempts"] == row["recorded"] for row in spent)
    assert await db.fetchval("SELECT quota_used FROM partner_limits WHERE code_oc = 'OCAA'") == 40


async def test_a_closed_window_moves_requests_and_reopens_without_a_burst(
    start_worker: Any, simulator: Simulator, broker: Broker, db: asyncpg.Pool
) -> None:
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    reopens = now + timedelta(seconds=4)
    closure = f"{(now - timedelta(minutes=1)).isoformat()}/{reopens.isoformat()}"
    hours = {"timezone": "UTC", "closed": [closure]}
    await start_worker(OCAA={"hours": hours, "spread": "3s"})
    messages = [cr_stoc(intervention=f"SHUT-{i}:photos=1") for i in range(20)]
    for message in messages:
        await broker.publish(message)

    async def done() -> bool:
        return (await _statuses(db, messages)).get("completed", 0) == len(messages)

    await wait_until(done, timeout=40, what="every request completed after the reopening")
    firsts = [c.wall for c in simulator.calls if c.operation == "getPhotosByIntervention"]
    opened_at = reopens.replace(tzinfo=UTC).timestamp()
    assert min(firsts) >= opened_at - 0.05  # the database's clock and this one: same machine
    busiest = _most_in_window(firsts, 0.5)
    print(f"20 requests asked {max(firsts) - min(firsts):.2f} s apart; most in 0.5 s: {busiest}")
    assert max(firsts) - min(firsts) >= 1.5
    assert busiest <= 10
    # Waiting in the closure spent no attempt and recorded no error.
    assert await db.fetchval("SELECT max(attempts) FROM photo_requests") == 1
    assert await db.fetchval("SELECT count(*) FROM request_attempts") == len(messages)


@pytest.fixture
async def other() -> AsyncIterator[Simulator]:
    sim = await _simulator()
    yield sim
    await sim.close()


async def test_the_breaker_opens_probes_and_closes_for_two_processes_while_another_oc_flows(
    spawn: ProcessFactory,
    database_url: str,
    amqp_url: str,
    tmp_path: Path,
    simulator: Simulator,
    other: Simulator,
    broker: Broker,
    db: asyncpg.Pool,
) -> None:
    settings = make_settings(database_url, amqp_url, tmp_path, concurrency=8)
    breaker = {"breaker": {"failures": 3, "cooldown": 1}, "spread": 1, "concurrency": 2}
    load_test_partners(
        settings, simulator.base_url, OCAA=breaker, OCBB={"base_url": other.base_url}
    )
    workers = [spawn(settings, name) for name in ("left", "right")]
    await wait_until(lambda: _consumers(broker, 2), timeout=30, what="two consumers")
    outage = 6.0
    async with aiohttp.ClientSession() as http:
        await http.post(f"{simulator.base_url}/_sim/outage?seconds={outage}")
    down_until = time.time() + outage
    broken = [cr_stoc(intervention=f"DOWN-{i}:photos=1") for i in range(20)]
    flowing = [cr_stoc("OCBB", intervention=f"FLOW-{i}:photos=1") for i in range(10)]
    for message in broken + flowing:
        await broker.publish(message)

    async def all_done(messages: list[dict[str, Any]]) -> bool:
        return (await _statuses(db, messages)).get("completed", 0) == len(messages)

    try:
        await wait_until(lambda: all_done(flowing), timeout=30, what="the other OC's requests")
        assert time.time() < down_until  # ... while the first OC was still down
        await wait_until(lambda: all_done(broken), timeout=60, what="the OC's after its outage")
    finally:
        for worker in workers:
            assert worker.terminate() == 0, worker.log()
    knocks = [c for c in _api_calls(simulator) if c.wall < down_until]
    print(f"calls during the {outage:.0f} s outage: {len(knocks)}")
    # Without the breaker: 20 requests retried every 0.05-0.2 s, hundreds of calls.
    assert len(knocks) < 40
    logs = "".join(worker.log() for worker in workers)
    assert 1 <= logs.count('"circuit breaker opened"') <= 3
    assert logs.count('"circuit breaker closed"') >= 1
    assert "probe" in logs
    # Waiting while it was open spent no attempt: a few failures each, not one per cool-down.
    assert await db.fetchval("SELECT max(attempts) FROM photo_requests") <= 4


async def _consumers(broker: Broker, expected: int) -> bool:
    return await broker.consumers() == expected
