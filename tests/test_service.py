"""End to end, in-process: message -> request row -> partner calls -> storage -> event."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from tests.harness import OI_CODE, Broker, InProcessWorker, cr_stoc, wait_for_status
from tests.services import wait_until
from worker.simulator import Simulator

pytestmark = pytest.mark.services


async def _served_bytes(simulator: Simulator, photo_id: str) -> bytes:
    headers = {
        "X-Request-Id": str(uuid.uuid4()),
        "X-Client-Id": OI_CODE,
        "Authorization": "Bearer t0ken-static-9f8e7d",
    }
    async with (
        aiohttp.ClientSession() as session,
        session.get(simulator.photo_url(photo_id), headers=headers) as response,
    ):
        assert response.status == 200
        return await response.read()


async def test_happy_path_stores_the_served_bytes(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool, simulator: Simulator, tmp_path: Path
) -> None:
    message = cr_stoc(
        intervention="HAPPY:photos=4",
        dateIntervention="2026-11-20T09:30:00+01:00",
        resultat="OK",
        actions=["POSE_PTO", "CABLAGE_PBO"],
    )
    await broker.publish(message)

    row = await wait_for_status(db, message["messageId"])
    assert row["status"] == "completed"
    assert row["attempts"] == 1
    assert row["last_http_status"] == 200
    assert row["completed_at"] is not None
    assert row["next_attempt_at"] is None
    assert row["actions"] == ["POSE_PTO", "CABLAGE_PBO"]
    photos = await db.fetch(
        "SELECT p.* FROM photos p JOIN photo_request_photos l USING (code_oc, photo_id)"
        " WHERE l.message_id = $1",
        uuid.UUID(message["messageId"]),
    )
    assert len(photos) == 4
    for photo in photos:
        served = await _served_bytes(simulator, str(photo["photo_id"]))
        stored = (tmp_path / "photos" / photo["storage_key"]).read_bytes()
        assert stored == served
        assert photo["sha256"] == hashlib.sha256(served).hexdigest()
        assert photo["size_bytes"] == len(served) == photo["declared_size"]
        ext = {"image/jpeg": "jpg", "image/png": "png"}[photo["mime_type"]]
        assert photo["storage_key"] == f"OCAA/{photo['photo_id']}.{ext}"
        assert photo["width"] == photo["declared_width"]
        assert photo["width"] > 0
        assert photo["anomalies"] == []
        assert photo["latitude"] is not None
        assert photo["projection"] == "WGS84"


async def test_result_event_is_published_once(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    message = cr_stoc(intervention="EVENT:photos=2")
    await broker.publish(message)
    await wait_for_status(db, message["messageId"])

    events = await wait_until(lambda: _events(broker, message["messageId"]), what="the event")
    event = events[0]
    assert event["review"] == "pending"
    assert event["_routing_key"] == "photos.completed"
    assert event["status"] == "completed"
    assert event["codeOC"] == "OCAA"
    assert event["referenceCommandeSousTraitantOI"] == "EVENT:photos=2"
    assert event["referencePrestationPrise"] is None
    assert len(event["photos"]) == 2
    assert {p["storageKey"].split("/")[0] for p in event["photos"]} == {"OCAA"}
    assert all(len(p["sha256"]) == 64 and p["type"] and p["photoId"] for p in event["photos"])
    # The relay marks the row sent after RabbitMQ's confirm, which can come after the delivery.
    reviewed = await wait_until(
        lambda: _events(broker, message["messageId"], "photos.reviewed"), what="the review event"
    )
    # PBO_AVANT without its after photo: known from the listing, kept by the review.
    assert [f["kind"] for f in event["findings"]] == ["unpaired"]
    assert reviewed[0]["findings"] == event["findings"]
    await wait_until(lambda: _all_sent(db), what="the outbox rows marked sent")
    keys = [e["_routing_key"] for e in broker.events_for(message["messageId"])]
    assert sorted(keys) == ["photos.completed", "photos.reviewed"]


async def _all_sent(db: asyncpg.Pool) -> bool:
    return await db.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0


async def _events(
    broker: Broker, message_id: str, key: str | None = None
) -> list[dict[str, object]]:
    """The events of a request with this routing key; by default its final-status ones."""
    events = broker.events_for(message_id)
    if key is None:
        return [e for e in events if e["_routing_key"] != "photos.reviewed"]
    return [e for e in events if e["_routing_key"] == key]


async def test_202_several_times_then_200(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    message = cr_stoc(intervention="LATER:after=3")
    await broker.publish(message)

    row = await wait_for_status(db, message["messageId"])
    assert row["status"] == "completed"
    assert row["attempts"] == 4
    attempts = await db.fetch(
        "SELECT outcome, http_status FROM request_attempts WHERE message_id = $1 ORDER BY attempt",
        uuid.UUID(message["messageId"]),
    )
    assert [(a["outcome"], a["http_status"]) for a in attempts] == [
        ("retry:not_ready", 202),
        ("retry:not_ready", 202),
        ("retry:not_ready", 202),
        ("completed", 200),
    ]


async def test_204_is_unavailable(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    message = cr_stoc(intervention="NEVER:final=204")
    row = await broker.run(db, message)
    assert row["status"] == "unavailable"
    assert row["last_http_status"] == 204
    events = await wait_until(lambda: _events(broker, message["messageId"]), what="the event")
    assert events[0]["_routing_key"] == "photos.unavailable"
    assert events[0]["photos"] == []


async def test_5xx_then_success(worker: InProcessWorker, broker: Broker, db: asyncpg.Pool) -> None:
    message = cr_stoc(intervention="FLAKY:errors=2:code=503")
    row = await broker.run(db, message)
    assert row["status"] == "completed"
    assert row["attempts"] == 3


async def test_403_fails_at_once(worker: InProcessWorker, broker: Broker, db: asyncpg.Pool) -> None:
    message = cr_stoc(intervention="DENIED:status=403")
    row = await broker.run(db, message)
    assert row["status"] == "failed"
    assert row["attempts"] == 1
    assert row["last_http_status"] == 403
    assert "403" in row["last_error"]


async def test_404_then_success(worker: InProcessWorker, broker: Broker, db: asyncpg.Pool) -> None:
    message = cr_stoc(intervention="UNKNOWN-YET:notfound=2")
    row = await broker.run(db, message)
    assert row["status"] == "completed"
    assert row["attempts"] == 3


async def test_404_too_many_times_fails(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    message = cr_stoc(intervention="UNKNOWN:status=404")
    row = await broker.run(db, message)
    assert row["status"] == "failed"
    assert row["attempts"] == worker.settings.not_found_retries + 1
    assert "404" in row["last_error"]


async def test_401_renews_the_oauth_token_once(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool, simulator: Simulator
) -> None:
    message = cr_stoc(code_oc="OCOA", intervention="TOKEN:unauth=1")
    row = await broker.run(db, message)
    assert row["status"] == "completed"
    assert row["attempts"] == 1
    token_calls = [c for c in simulator.calls if c.operation == "token"]
    assert len(token_calls) == 2  # the first token, then the renewal after the 401
    metadata = [c for c in simulator.calls if c.reference == "TOKEN:unauth=1"]
    assert [c.status for c in metadata] == [401, 200]


async def test_401_twice_fails(worker: InProcessWorker, broker: Broker, db: asyncpg.Pool) -> None:
    message = cr_stoc(code_oc="OCOA", intervention="REVOKED:unauth=5")
    row = await broker.run(db, message)
    assert row["status"] == "failed"
    assert row["last_http_status"] == 401


async def test_every_call_carries_the_contract_headers(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool, simulator: Simulator
) -> None:
    message = cr_stoc(intervention="HEADERS:photos=3:after=1")
    await broker.publish(message)
    await wait_for_status(db, message["messageId"])
    calls = [c for c in simulator.calls if c.operation != "token"]
    assert len(calls) == 5  # 202, 200, three photos
    assert all(c.client_id == OI_CODE and c.authorization for c in calls)
    request_ids = [c.request_id for c in calls]
    assert all(len(r) == 36 and uuid.UUID(r) for r in request_ids)
    assert len(set(request_ids)) == len(request_ids)


async def test_query_falls_back_to_an_available_reference(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool, simulator: Simulator
) -> None:
    message = cr_stoc(intervention=None, referencePrestationPrise="ACCESS-1:photos=1")
    row = await broker.run(db, message)
    assert row["status"] == "completed"
    paths = [c.path for c in simulator.calls if c.operation != "getPhoto"]
    assert paths == ["/access/ACCESS-1%3Aphotos%3D1/photos"]
