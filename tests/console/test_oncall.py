"""The on-call view: live workers from their heartbeats, the queues they saw, overdue requests
with their lease owner, and a health banner that says when something needs a person."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from tests.console import seed
from tests.console.conftest import Console, StartConsole
from worker.console.oncall import QueueTrend, judge

pytestmark = pytest.mark.services


async def beat(
    db: asyncpg.Pool,
    instance: str,
    *,
    ago: float = 0.0,
    stopped: bool = False,
    queues: dict[str, dict[str, int]] | None = None,
    in_flight: int = 0,
) -> None:
    seen = datetime.now(UTC) - timedelta(seconds=ago)
    await db.execute(
        "INSERT INTO worker_heartbeats (instance, roles, version, host, pid, started_at,"
        " seen_at, stopped_at, in_flight, queues)"
        " VALUES ($1, 'ingest,review', '0.1.0', 'host', 1, $2, $2, $3, $4, $5::jsonb)",
        instance,
        seen,
        seen if stopped else None,
        in_flight,
        json.dumps(queues or {}),
    )


def _banner(page_text: str) -> str:
    start = page_text.index('class="health health-')
    return page_text[start + len('class="health health-') :].split('"', 1)[0]


async def test_no_worker_ever_seen_is_red(console: Console) -> None:
    for path in ("/", "/on-call"):
        page = await console.get(path)
        assert page.status == 200
        assert _banner(page.text) == "bad"
        assert "no live worker" in page.text


async def test_live_worker_and_its_queues_make_it_green(
    start_console: StartConsole, db: asyncpg.Pool
) -> None:
    console = await start_console(heartbeat_seconds=5)
    queues = {"photos.cr_stoc": {"messages": 3, "consumers": 2}}
    await beat(db, "pod-a", queues=queues, in_flight=4)
    await beat(db, "pod-old", ago=3600)
    await beat(db, "pod-stopped", ago=60, stopped=True)
    page = await console.get("/on-call")
    assert _banner(page.text) == "ok", page.text
    assert "1 live of 3" in page.text
    for instance in ("pod-a", "pod-old", "pod-stopped"):
        assert instance in page.text
    assert "✖ gone" in page.text
    assert "■ stopped" in page.text
    assert "photos.cr_stoc" in page.text


async def test_a_worker_that_stops_beating_turns_it_red(
    start_console: StartConsole, db: asyncpg.Pool
) -> None:
    console = await start_console(heartbeat_seconds=1, console_refresh_seconds=1)
    await beat(db, "pod-a", ago=4)  # three beats missed
    page = await console.get("/on-call/panel")
    assert _banner(page.text) == "bad"


async def test_unconsumed_queue_is_red_and_overdue_requests_are_listed(
    start_console: StartConsole, db: asyncpg.Pool
) -> None:
    console = await start_console(heartbeat_seconds=5)
    await beat(db, "pod-a", queues={"photos.cr_stoc": {"messages": 40, "consumers": 0}})
    late = await seed.request(db, status="pending", reference="LATE-1")
    await db.execute(
        "UPDATE photo_requests SET next_attempt_at = now() - interval '10 minutes',"
        " lease_owner = 'pod-z' WHERE message_id = $1",
        late.message_id,
    )
    await seed.request(db, status="pending", reference="ON-TIME")  # due in 5 minutes
    page = await console.get("/on-call")
    assert _banner(page.text) == "bad"
    assert "nothing consumes it" in page.text
    assert "LATE-1" in page.text
    assert "pod-z" in page.text
    assert "ON-TIME" not in page.text
    assert "1 pending requests are overdue" in page.text


def test_judge_levels() -> None:
    live_queue = {"photos.cr_stoc": {"messages": 0, "consumers": 1}}
    assert judge(1, live_queue, growing=False, overdue=0).level == "ok"
    assert judge(1, live_queue, growing=True, overdue=0).level == "warn"
    assert judge(1, live_queue, growing=False, overdue=3).level == "warn"
    stopped = judge(0, {}, growing=False, overdue=0)
    assert stopped.level == "bad"
    assert [str(reason) for reason in stopped.reasons] == [
        "no live worker: none has sent a heartbeat lately"
    ]


def test_queue_trend_needs_a_minute_of_rise() -> None:
    trend = QueueTrend()
    for second, depth in enumerate(range(100, 130)):
        trend.add(depth, now=second * 2.0)  # 58 s of rise: not yet
    assert not trend.growing()
    trend.add(131, now=62.0)
    assert trend.growing()
    trend.add(90, now=64.0)  # it drained
    assert not trend.growing()
