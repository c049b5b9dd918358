"""The review stage on the real services: ingestion does not wait for it, its work survives a
killed review process and a killed worker, and it publishes photos.reviewed once."""

from __future__ import annotations

import os
import signal
import uuid
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.harness import Broker, StartWorker, cr_stoc, load_test_partners, make_settings
from tests.process import ProcessFactory
from tests.review.hooks import held_check
from tests.services import wait_until
from worker.findings.requests import CHECKS_VERSION
from worker.simulator import Simulator

pytestmark = pytest.mark.services

INGEST = {"roles": "ingest"}
REVIEW = {"roles": "review", "review_processes": 1}


def message(reference: str, actions: tuple[str, ...] = ("POSE_PTO", "CABLAGE_PBO")) -> Any:
    return cr_stoc(
        intervention=reference,
        dateIntervention=datetime.now(UTC).isoformat(),
        actions=list(actions),
    )


def events(broker: Broker, body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return [e for e in broker.events_for(body["messageId"]) if e["_routing_key"] == key]


async def completed(broker: Broker, db: asyncpg.Pool, body: dict[str, Any]) -> dict[str, Any]:
    await broker.run(db, body)

    async def event() -> list[dict[str, Any]]:
        return events(broker, body, "photos.completed")

    [published] = await wait_until(event, what="photos.completed")
    return published


async def reviewed(broker: Broker, body: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
    async def event() -> list[dict[str, Any]]:
        return events(broker, body, "photos.reviewed")

    [published] = await wait_until(event, timeout, what="photos.reviewed")
    return published


async def test_ingestion_completes_while_the_review_is_held_back(
    start_worker: StartWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    await start_worker(INGEST)
    body = message("HELD:photos=3:copy=3:blur=1")
    event = await completed(broker, db, body)
    assert event["status"] == "completed"
    assert event["review"] == "pending"
    assert event["findings"] == []  # nothing the listing alone shows
    waiting = await db.fetchrow("SELECT * FROM request_reviews")
    assert waiting["reviewed_at"] is None
    assert waiting["lease_id"] is None
    assert await db.fetchval("SELECT count(*) FROM photos WHERE checked_at IS NOT NULL") == 0
    assert events(broker, body, "photos.reviewed") == []

    reviewer = await start_worker(REVIEW)
    review = await reviewed(broker, body)
    assert sorted(f["kind"] for f in review["findings"]) == ["low_quality", "same_before_after"]
    assert review["checks"] == CHECKS_VERSION
    assert datetime.fromisoformat(review["reviewedAt"]) >= waiting["stored_at"]
    assert review["referenceCommandeSousTraitantOI"] == "HELD:photos=3:copy=3:blur=1"
    row = await db.fetchrow("SELECT * FROM request_reviews")
    assert (row["reviews"], row["checks_version"]) == (1, CHECKS_VERSION)
    assert (
        await db.fetchval(
            "SELECT count(*) FROM photos WHERE checked_at IS NOT NULL AND checks_version = $1",
            CHECKS_VERSION,
        )
        == 3
    )
    kinds = await db.fetch("SELECT kind, checks_version FROM photo_findings ORDER BY id")
    assert [(r["kind"], r["checks_version"]) for r in kinds] == [
        (f["kind"], CHECKS_VERSION) for f in review["findings"]
    ]
    assert reviewer.metrics.photos_reviewed.labels("OCAA")._value.get() == 3
    assert reviewer.metrics.review_lag._sum.get() > 0


async def test_a_review_process_killed_mid_photo_loses_nothing(
    start_worker: StartWorker, broker: Broker, db: asyncpg.Pool, tmp_path: Path
) -> None:
    hold = tmp_path / "hold"
    hold.mkdir()
    worker = await start_worker(REVIEW | {"roles": "ingest,review"}, partial(held_check, hold))
    body = message("KILLED:photos=1", ("POSE_PTO",))
    assert (await completed(broker, db, body))["review"] == "pending"
    pid = await _started(hold, 1)
    os.kill(pid, signal.SIGKILL)
    await _started(hold, 2)  # the pool replaced the process and the photo is tried again
    (hold / "release").touch()
    review = await reviewed(broker, body)
    assert review["findings"] == []
    photo = await db.fetchrow("SELECT phash, qa_error, checked_at FROM photos")
    assert photo["phash"] is not None
    assert photo["qa_error"] is None
    assert worker.metrics.review_failures.labels("crashed")._value.get() == 1


async def test_a_photo_whose_check_crashes_twice_gets_a_qa_error(
    start_worker: StartWorker, broker: Broker, db: asyncpg.Pool, tmp_path: Path
) -> None:
    hold = tmp_path / "hold"
    hold.mkdir()
    worker = await start_worker(REVIEW | {"roles": "ingest,review"}, partial(held_check, hold))
    body = message("CRASHY:photos=1", ("POSE_PTO",))
    await completed(broker, db, body)
    for attempt in (1, 2):
        os.kill(await _started(hold, attempt), signal.SIGKILL)
    review = await reviewed(broker, body)
    [finding] = review["findings"]
    assert finding["kind"] == "qa_error"
    assert "crashed" in finding["detail"]
    assert "2 times" in finding["detail"]
    assert not list(hold.glob("started-3"))  # the stage went on without a third try
    qa_error = await db.fetchval("SELECT qa_error FROM photos")
    assert "not checked" in qa_error
    assert worker.metrics.review_failures.labels("crashed")._value.get() == 2


async def test_a_photo_whose_check_overruns_is_stopped(
    start_worker: StartWorker, broker: Broker, db: asyncpg.Pool, tmp_path: Path
) -> None:
    hold = tmp_path / "hold"
    hold.mkdir()
    settings = REVIEW | {"roles": "ingest,review", "review_timeout_seconds": 1}
    worker = await start_worker(settings, partial(held_check, hold))
    body = message("SLOW:photos=1", ("POSE_PTO",))
    await completed(broker, db, body)
    [finding] = (await reviewed(broker, body))["findings"]
    assert finding["kind"] == "qa_error"
    assert "overran its time limit (1 s)" in finding["detail"]
    assert worker.metrics.review_failures.labels("overran")._value.get() == 2


async def test_a_worker_killed_mid_review_is_relieved_by_another(
    start_worker: StartWorker,
    spawn: ProcessFactory,
    broker: Broker,
    db: asyncpg.Pool,
    database_url: str,
    amqp_url: str,
    tmp_path: Path,
    simulator: Simulator,
) -> None:
    await start_worker(INGEST)
    body = message("RELIEF:photos=3:copy=3")
    await completed(broker, db, body)
    settings = make_settings(database_url, amqp_url, tmp_path, lease_seconds=2)
    load_test_partners(settings, simulator.base_url)
    env = {"WORKER_ROLES": "review", "WORKER_REVIEW_PROCESSES": "1"}
    # Held at its final write: the photos' rows are locked by this test's transaction.
    async with db.acquire() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM photos FOR UPDATE")
        first = spawn(settings, "first", env)
        await wait_until(
            lambda: _waiting_on_a_lock(db, "first"), timeout=60, what="the review to be held"
        )
        assert await db.fetchval("SELECT lease_owner FROM request_reviews") == "first"
        first.kill()
    second = spawn(settings, "second", env)
    try:
        review = await reviewed(broker, body, timeout=60)
    finally:
        assert second.terminate() == 0, second.log()
    assert [f["kind"] for f in review["findings"]] == ["same_before_after"]
    row = await db.fetchrow("SELECT * FROM request_reviews")
    assert row["reviews"] == 1
    assert row["reviewed_at"] is not None
    assert "request reviewed" in second.log()
    assert "request reviewed" not in first.log()
    assert await db.fetchval("SELECT count(*) FROM photo_findings") == 1
    assert len(events(broker, body, "photos.reviewed")) == 1


async def _started(directory: Path, attempt: int) -> int:
    async def pid() -> int | None:
        found = directory / f"started-{attempt}"
        text = found.read_text() if found.exists() else ""
        return int(text) if text else None

    value: int = await wait_until(pid, timeout=30, what=f"check attempt {attempt} to start")
    return value


async def _waiting_on_a_lock(db: asyncpg.Pool, instance: str) -> bool:
    return bool(
        await db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"
            " AND wait_event_type = 'Lock'",
            f"photo-worker {instance}",
        )
    )


async def test_reuse_reviewed_late_flags_the_copy_not_the_original(
    start_worker: StartWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    """Both stored before either is reviewed: the later request is the copy."""
    await start_worker(INGEST)
    tag = uuid.uuid4().hex[:8]
    first, second = message(f"ORIGINAL:photos=3:reuse={tag}"), message(f"COPY:photos=3:reuse={tag}")
    for body in (first, second):
        await completed(broker, db, body)
    await start_worker(REVIEW)
    assert (await reviewed(broker, first))["findings"] == []
    [finding] = (await reviewed(broker, second))["findings"]
    assert finding["kind"] == "reused_photo"
    assert finding["relatedMessageId"] == first["messageId"]


async def test_the_review_waits_while_ingestion_downloads_photos(
    start_worker: StartWorker, broker: Broker, db: asyncpg.Pool, simulator: Simulator
) -> None:
    # One worker playing both roles. The first request's photo comes slowly (16 chunks, 250 ms
    # apart); the second completes meanwhile, and its review waits until no photo downloads.
    await start_worker({"review_processes": 1})
    slow, quick = message("SLOW:photos=1:size=1m:slow=250"), message("QUICK:photos=2")
    await broker.publish(slow)

    async def downloading() -> bool:
        return any(call.operation == "getPhoto" for call in simulator.calls)

    await wait_until(downloading, what="the slow photo's download to start")
    await completed(broker, db, quick)
    await reviewed(broker, quick)
    ended = await db.fetchval(
        "SELECT completed_at FROM photo_requests WHERE message_id = $1",
        uuid.UUID(slow["messageId"]),
    )
    assert ended is not None  # reviewed only once the slow download had ended
    reviewed_at = await db.fetchval(
        "SELECT reviewed_at FROM request_reviews WHERE message_id = $1",
        uuid.UUID(quick["messageId"]),
    )
    assert reviewed_at >= ended
