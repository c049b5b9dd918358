"""The operators' commands, run as processes against the test's database and vhost."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import uuid
from typing import Any

import asyncpg
import pytest

from tests.harness import (
    Broker,
    InProcessWorker,
    StartWorker,
    cr_stoc,
    wait_for_reviews,
    wait_for_status,
)
from tests.process import run_command
from tests.services import wait_until

pytestmark = pytest.mark.services


async def _worker_command(worker: InProcessWorker, *args: str) -> subprocess.CompletedProcess[str]:
    settings = worker.settings
    env = {
        "WORKER_DATABASE_URL": settings.database_url.get_secret_value(),
        "WORKER_AMQP_URL": settings.amqp_url.get_secret_value(),
        "WORKER_STORAGE_URL": settings.storage_url,
        "WORKER_PARTNERS_FILE": str(settings.partners_file),
    }
    return await asyncio.to_thread(run_command, env, *args)


async def _json(worker: InProcessWorker, *args: str) -> Any:
    done = await _worker_command(worker, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def test_status_shows_counts_oldest_pending_next_retries_and_dead_letters(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    await broker.run(db, cr_stoc(intervention="ST-OK:photos=1"))
    await broker.run(db, cr_stoc(intervention="ST-KO:status=403"))
    waiting = cr_stoc(intervention="ST-WAIT:after=never:retry_after=900")
    await broker.publish(waiting)
    await broker.publish(b"{broken")
    await wait_until(lambda: _attempts(db, waiting["messageId"]), what="a first 202")

    report = await _json(worker, "status")
    assert report["requests"]["OCAA"] == {
        "pending": 1,
        "completed": 1,
        "unavailable": 0,
        "expired": 0,
        "failed": 1,
    }
    assert report["oldest_pending"]["message_id"] == waiting["messageId"]
    assert report["oldest_pending"]["last_http_status"] == 202
    [due] = report["next_due"]
    assert 800 < due["in_seconds"] <= 1000
    assert report["queues"] == {"photos.cr_stoc": 0, "photos.cr_stoc.dead": 1}
    assert report["recent_dead_letters"][0]["reason"] == "not_json"

    text = (await _worker_command(worker, "status")).stdout
    assert "Requests by OC and status" in text
    assert waiting["messageId"] in text
    assert "photos.cr_stoc.dead 1 ready" in text


async def test_status_shows_the_partners_limits(
    start_worker: StartWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    quota = {"calls": 2, "timezone": "UTC"}
    worker = await start_worker(OCAA={"quota": quota, "breaker": {"failures": 5}})
    await broker.run(db, cr_stoc(intervention="QUOTA-1:photos=1"))  # the day's two calls
    held = cr_stoc(intervention="QUOTA-2:photos=1")
    await broker.publish(held)

    async def deferred() -> bool:
        row = await db.fetchrow(
            "SELECT attempts, next_attempt_at > now() + interval '1 minute' AS later"
            " FROM photo_requests WHERE message_id = $1",
            uuid.UUID(held["messageId"]),
        )
        return row is not None and row["later"] and row["attempts"] == 0

    await wait_until(deferred, what="the request held for tomorrow, its attempt not spent")
    [limits] = (await _json(worker, "status"))["partner_limits"]
    assert limits["oc"] == "OCAA"
    assert limits["state"] == "held (quota)"
    assert limits["quota"] == "2 of 2"
    assert limits["breaker"] == "closed (0 failures in a row)"
    text = (await _worker_command(worker, "status")).stdout
    assert "OCAA: held (quota) until" in text


async def _attempts(db: asyncpg.Pool, message_id: str) -> int:
    return int(
        await db.fetchval(
            "SELECT count(*) FROM request_attempts WHERE message_id = $1", uuid.UUID(message_id)
        )
    )


async def test_show_finds_a_request_by_id_or_reference(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    message = cr_stoc(
        intervention="SHOW-1:photos=2:badmagic=1:after=1", referencePrestationPrise="ACCESS-SHOW-1"
    )
    await broker.run(db, message)
    # The review runs beside: let it end, or the two answers may see its lease taken between them.
    await wait_for_reviews(db)

    by_id = await _json(worker, "show", message["messageId"])
    by_reference = await _json(worker, "show", "ACCESS-SHOW-1")
    assert by_id == by_reference
    assert by_id["request"]["status"] == "failed"
    assert [a["outcome"] for a in by_id["attempts"]] == ["retry:not_ready", "failed"]
    assert all(len(a["x_request_id"]) == 36 for a in by_id["attempts"])
    [photo] = by_id["photos"]
    assert photo["location"].startswith("file:///")
    assert photo["location"].endswith(photo["storage_key"])
    [refused] = by_id["refused"]
    assert refused["reason"] == "bad_magic"
    assert by_id["events"][0]["routing_key"] == "photos.failed"

    text = (await _worker_command(worker, "show", message["messageId"])).stdout
    assert "bad_magic" in text
    assert by_id["attempts"][0]["x_request_id"] in text
    missing = await _worker_command(worker, "show", "NO-SUCH-REF")
    assert missing.returncode == 1
    assert "no request" in missing.stderr


async def test_replay_dead_letters_after_the_fix(
    start_worker: StartWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    before = await start_worker()
    unknown = cr_stoc(code_oc="OCZZ", intervention="LATE-OC:photos=1")
    await broker.publish(unknown)
    await broker.publish(b"not json at all", message_id="junk")
    await wait_until(lambda: _dead_letters(broker, 2), what="two dead letters")
    await before.stop()
    fixed = await start_worker(OCZZ={})  # the partners file now has OCZZ

    dry = await _worker_command(fixed, "replay-dead-letters", "--dry-run", "--reason", "unknown_oc")
    assert dry.returncode == 0, dry.stderr
    assert "2 dead letters looked at, 1 would replay, 1 left" in dry.stdout
    assert await broker.queue_depth("photos.cr_stoc.dead") == 2

    done = await _worker_command(fixed, "replay-dead-letters", "--reason", "unknown_oc")
    assert "1 replayed, 1 left" in done.stdout
    assert "1 of their dead_letters rows marked replayed" in done.stdout
    row = await wait_for_status(db, unknown["messageId"])
    assert row["status"] == "completed"
    assert await broker.queue_depth("photos.cr_stoc.dead") == 1

    marks = {r["reason"]: r for r in await db.fetch("SELECT * FROM dead_letters")}
    assert marks["unknown_oc"]["replayed_at"] is not None
    assert marks["unknown_oc"]["replayed_by"].endswith("(command line)")
    assert marks["not_json"]["replayed_at"] is None
    report = await _json(fixed, "status")
    shown = {d["reason"]: d["replayed_at"] for d in report["recent_dead_letters"]}
    assert shown["unknown_oc"] is not None
    assert shown["not_json"] is None
    text = (await _worker_command(fixed, "status")).stdout
    assert re.search(r"replayed \d{4}-\d\d-\d\dT[\d:]+\+00:00 .* unknown_oc:", text)
    assert re.search(r"waiting .* not_json:", text)

    # `show` finds the request by a prefix of its reference, and the dead letter that held it.
    both = (await _worker_command(fixed, "show", "LATE-OC")).stdout
    assert f"Request {unknown['messageId']}" in both
    assert "Dead letters (1):" in both
    assert "unknown_oc: codeOC OCZZ is not in the partners file" in both
    assert "replayed 20" in both


async def _dead_letters(broker: Broker, count: int) -> bool:
    return await broker.queue_depth("photos.cr_stoc.dead") >= count


async def test_refetch_gives_an_expired_request_a_new_attempt(
    start_worker: StartWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    worker = await start_worker(OCAA={"max_wait": "1s"})
    message = cr_stoc(intervention="REFETCH:after=2:retry_after=1")
    row = await broker.run(db, message)
    assert row["status"] == "expired"

    dry = await _worker_command(worker, "refetch", "--status", "expired", "--dry-run")
    assert f"{message['messageId']}  OCAA  was expired   would be due now" in dry.stdout
    assert (await wait_for_status(db, message["messageId"]))["status"] == "expired"

    done = await _worker_command(worker, "refetch", "REFETCH:after=2:retry_after=1")
    assert "1 request(s) moved forward" in done.stdout
    row = await wait_for_status(db, message["messageId"], statuses=("completed",))
    assert row["refetched_at"] is not None
    await wait_until(lambda: _two_events(broker, message["messageId"]), what="both events")


async def _two_events(broker: Broker, message_id: str) -> bool:
    finals = [e["status"] for e in broker.events_for(message_id) if "status" in e]
    return finals == ["expired", "completed"]


async def test_refetch_needs_a_selection(worker: InProcessWorker) -> None:
    done = await _worker_command(worker, "refetch")
    assert done.returncode == 2
    assert "give KEYs" in done.stderr
