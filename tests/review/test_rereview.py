"""`worker review --since`: the current checks again on stored photos, read back from storage;
photos.reviewed again only where the findings changed; a run cut short resumes."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import timedelta

import asyncpg
import pytest

from tests.harness import Broker, InProcessWorker, StartWorker
from tests.process import run_command
from tests.review.test_stage import completed, events, message, reviewed
from tests.services import wait_until
from worker.review import requeue

pytestmark = pytest.mark.services


async def _command(
    worker: InProcessWorker, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    settings = worker.settings
    base = {
        "WORKER_DATABASE_URL": settings.database_url.get_secret_value(),
        "WORKER_STORAGE_URL": settings.storage_url,
        "WORKER_LOG_FORMAT": "json",
        "WORKER_PTO_REFERENCE_PATTERN": settings.pto_reference_pattern,
        "WORKER_QA_SAME_SPOT_MIN_INLIERS": str(settings.qa_same_spot_min_inliers),
    }
    return await asyncio.to_thread(run_command, base | env, "review", *args)


async def test_a_changed_threshold_publishes_only_the_changed_requests(
    start_worker: StartWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    # The worker's own reviewer is off: the command reviews by itself.
    worker = await start_worker({"roles": "ingest"})
    blurred, clean = message("REDO:photos=3:blur=1"), message("SAME:photos=3")
    for body in (blurred, clean):
        await completed(broker, db, body)
    done = await _command(worker, "--since", "1d", "--batch", "1", "--pause", "0")
    assert done.returncode == 0, done.stderr
    assert "2 request(s)" in done.stdout
    assert "[###############...............] 1/2 requests" in done.stdout
    assert "2 request(s) reviewed again" in done.stdout
    first = await reviewed(broker, blurred)
    assert [f["kind"] for f in first["findings"]] == ["low_quality"]
    await reviewed(broker, clean)

    # A threshold goes down: the blurred photo is no longer low quality, the clean set unchanged.
    again = await _command(worker, "--since", "1d", "--pause", "0", WORKER_QA_BLUR_BELOW="0")
    assert again.returncode == 0, again.stderr
    assert "2 request(s) reviewed again with the current checks, 1 with changed" in again.stdout

    async def second_review() -> list[dict[str, object]]:
        return events(broker, blurred, "photos.reviewed")[1:]

    [changed] = await wait_until(second_review, what="the second photos.reviewed")
    assert changed["findings"] == []
    assert len(events(broker, clean, "photos.reviewed")) == 1
    assert await db.fetchval("SELECT sum(reviews) FROM request_reviews") == 4
    assert await db.fetchval("SELECT count(*) FROM photo_findings") == 0
    runs = await db.fetch("SELECT queued, changed, finished_at FROM review_runs ORDER BY id")
    assert [(r["queued"], r["changed"]) for r in runs] == [(2, 2), (2, 1)]
    assert all(r["finished_at"] is not None for r in runs)


async def test_a_run_cut_short_resumes_at_its_cursor(
    start_worker: StartWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    worker = await start_worker({"roles": "ingest"})
    bodies = [message(f"RESUME-{n}:photos=2") for n in range(3)]
    for body in bodies:
        await completed(broker, db, body)
    # A run that queued its first request and stopped there.
    selection = requeue.Selection(timedelta(days=1), kind=None)
    cut = await requeue.open_run(db, selection, "test")
    [first] = await requeue.queue_batch(db, cut, 1)
    done = await _command(worker, "--since", "1d", "--pause", "0")
    assert done.returncode == 0, done.stderr
    assert f"resuming run {cut.id} (1 queued before)" in done.stdout
    assert "3 request(s)" in done.stdout
    run = await db.fetchrow("SELECT * FROM review_runs")
    assert (run["queued"], run["finished_at"] is not None) == (3, True)
    assert await db.fetchval("SELECT count(*) FROM request_reviews WHERE reviews = 1") == 3
    assert (
        first
        == min(
            (await db.fetch("SELECT message_id, completed_at FROM photo_requests")),
            key=lambda r: (r["completed_at"], r["message_id"]),
        )["message_id"]
    )
