"""Photo downloads: refusals with their reason, retries of transient failures, no partial file."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import pytest

from tests.harness import (
    Broker,
    InProcessWorker,
    StartWorker,
    cr_stoc,
    wait_for_status,
)
from worker.simulator import Simulator

pytestmark = pytest.mark.services


async def _photos(db: asyncpg.Pool, message_id: str) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT p.* FROM photos p JOIN photo_request_photos l USING (code_oc, photo_id)"
        " WHERE l.message_id = $1 ORDER BY p.photo_id",
        uuid.UUID(message_id),
    )


async def _refusals(db: asyncpg.Pool, message_id: str) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT * FROM photo_refusals WHERE message_id = $1", uuid.UUID(message_id)
    )


def _files(tmp_path: Path) -> list[Path]:
    return sorted(p for p in (tmp_path / "photos").rglob("*") if p.is_file())


async def test_wrong_magic_bytes_are_refused_and_the_rest_kept(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool, tmp_path: Path
) -> None:
    message = cr_stoc(intervention="MAGIC:photos=3:badmagic=2")
    row = await broker.run(db, message)

    assert row["status"] == "failed"
    [refusal] = await _refusals(db, message["messageId"])
    assert refusal["reason"] == "bad_magic"
    assert refusal["photo_id"] in row["last_error"]
    assert "bad_magic" in row["last_error"]
    stored = await _photos(db, message["messageId"])
    assert len(stored) == 2
    assert str(refusal["photo_id"]) not in {str(p["photo_id"]) for p in stored}
    assert len(_files(tmp_path)) == 2
    assert worker.metrics.photos_refused.labels("OCAA", "bad_magic")._value.get() == 1


async def test_invalid_record_is_refused_and_valid_photos_kept(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    message = cr_stoc(intervention="RECORD:photos=3:badrecord=1")
    row = await broker.run(db, message)

    assert row["status"] == "failed"
    [refusal] = await _refusals(db, message["messageId"])
    assert refusal["reason"] == "invalid_record"
    assert "type" in refusal["detail"]
    assert refusal["photo_id"] is not None
    assert refusal["photo_id"] in row["last_error"]
    assert len(await _photos(db, message["messageId"])) == 2


async def test_metadata_mismatch_is_recorded_as_anomalies(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    message = cr_stoc(intervention="MISMATCH:photos=2:mismatch=1")
    row = await broker.run(db, message)

    assert row["status"] == "completed"
    anomalies = {p["photo_id"]: p["anomalies"] for p in await _photos(db, message["messageId"])}
    assert sorted(len(a) for a in anomalies.values()) == [0, 3]
    flagged = next(a for a in anomalies.values() if a)
    assert any(a.startswith("size: declared") for a in flagged)
    assert any(a.startswith("width: declared") for a in flagged)


@pytest.mark.parametrize("scenario", ["photoerrors=2", "truncate=1"])
async def test_transient_photo_failures_are_retried(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool, tmp_path: Path, scenario: str
) -> None:
    message = cr_stoc(intervention=f"PHOTO-FLAKY:photos=2:size=300k:{scenario}")
    row = await broker.run(db, message)

    assert row["status"] == "completed"
    assert row["attempts"] > 1
    photos = await _photos(db, message["messageId"])
    assert [p["size_bytes"] for p in photos] == [300 * 1024, 300 * 1024]
    assert [f.stat().st_size for f in _files(tmp_path)] == [300 * 1024, 300 * 1024]


async def test_photo_missing_for_good_fails_the_request(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    message = cr_stoc(intervention="GONE:photos=2:photo404=2")
    row = await broker.run(db, message)

    assert row["status"] == "failed"
    assert "404" in row["last_error"]
    assert len(await _photos(db, message["messageId"])) == 1


async def test_photos_already_stored_are_not_downloaded_again(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool, simulator: Simulator
) -> None:
    first = cr_stoc(intervention="SHARED:photos=3")
    await broker.publish(first)
    await wait_for_status(db, first["messageId"])
    downloads = sum(c.operation == "getPhoto" for c in simulator.calls)

    second = cr_stoc(intervention="SHARED:photos=3")
    await broker.publish(second)
    row = await wait_for_status(db, second["messageId"])

    assert row["status"] == "completed"
    assert sum(c.operation == "getPhoto" for c in simulator.calls) == downloads
    assert len(await _photos(db, second["messageId"])) == 3
    assert await db.fetchval("SELECT count(*) FROM photos") == 3


async def test_size_cap_refuses_large_photos(
    start_worker: StartWorker, broker: Broker, db: asyncpg.Pool, tmp_path: Path
) -> None:
    await start_worker({"photo_max_bytes": 100_000})
    message = cr_stoc(intervention="BIG:photos=2:size=200k")
    row = await broker.run(db, message)

    assert row["status"] == "failed"
    refusals = await _refusals(db, message["messageId"])
    assert [r["reason"] for r in refusals] == ["too_large", "too_large"]
    assert _files(tmp_path) == []
