"""End to end: the simulator serves photos made to trigger each finding; the worker flags them in
the events (photos.completed: what is known without decoding; photos.reviewed: the complete
list), the table and the metrics, and flags nothing on a clean set."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from tests.harness import Broker, InProcessWorker, StartWorker, cr_stoc
from tests.services import wait_until

pytestmark = pytest.mark.services

EVERY_ACTION = [
    "POSE_PTO",
    "CABLAGE_PBO",
    "CABLAGE_PM",
    "PENETRATION_LOGEMENT",
    "POSE_TRAVERSE_AERIEN",
    "CABLAGE_APPUI_AERIEN",
]


def message(reference: str, actions: list[str] | None = None) -> dict[str, Any]:
    return cr_stoc(
        intervention=reference,
        dateIntervention=datetime.now(UTC).isoformat(),
        actions=actions if actions is not None else ["POSE_PTO", "CABLAGE_PBO"],
    )


async def finished(
    broker: Broker, db: asyncpg.Pool, body: dict[str, Any]
) -> tuple[asyncpg.Record, dict[str, Any]]:
    """Publish, wait for the final status and the events; returns the row and the last event:
    photos.reviewed when the request had photos to review, its photos.<status> otherwise."""
    row = await broker.run(db, body)
    [completed] = await wait_until(
        lambda: _events(broker, body, "photos." + row["status"]), what="the result event"
    )
    if completed["review"] == "none":
        return row, completed
    [reviewed] = await wait_until(
        lambda: _events(broker, body, "photos.reviewed"), what="the photos.reviewed event"
    )
    assert {f["kind"] for f in completed["findings"]} <= {"missing_type", "unpaired",
        "declared_mismatch"}  # fmt: skip
    assert all(f in reviewed["findings"] for f in completed["findings"])
    return row, reviewed


async def _events(broker: Broker, body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return [e for e in broker.events_for(body["messageId"]) if e["_routing_key"] == key]


async def table_rows(db: asyncpg.Pool, message_id: str) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT * FROM photo_findings WHERE message_id = $1 ORDER BY id", uuid.UUID(message_id)
    )


async def test_a_clean_set_has_no_finding(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    """False positives on the simulator's normal photos: every type, default and sized ones."""
    bodies = [message(f"CLEAN-{n}:photos=8", EVERY_ACTION) for n in range(3)] + [
        message(f"SIZED-{n}:photos=6:size=200k:format=jpeg") for n in range(2)
    ]
    for body in bodies:
        await broker.publish(body)
    for body in bodies:
        row, event = await finished(broker, db, body)
        assert row["status"] == "completed"
        assert event["findings"] == []
    checked = await db.fetchval(
        "SELECT count(*) FROM photos WHERE phash IS NOT NULL AND qa_error IS NULL"
    )
    assert checked == 3 * 8 + 2 * 6
    assert await db.fetchval("SELECT count(*) FROM photo_findings") == 0


@pytest.mark.parametrize(
    ("reference", "actions", "expected"),
    [
        ("MISSING:photos=3", ["POSE_PTO", "CABLAGE_PM"], ["missing_type", "missing_type"]),
        ("UNPAIRED:photos=2", ["POSE_PTO"], ["unpaired"]),
        ("SAME:photos=3:copy=3", None, ["same_before_after"]),
        ("OLD:photos=3:olddate=1", None, ["date_out_of_window"]),
        ("FAR:photos=3:faraway=1", None, ["location_far", "location_far"]),
        ("LIES:photos=3:mismatch=2", None, ["declared_mismatch"]),
        ("UGLY:photos=3:blur=1:dark=2:tiny=3", None, ["low_quality"] * 3),
        ("BOMB:photos=3:bomb=2", None, ["qa_error"]),
    ],
)
async def test_each_kind_is_flagged(
    worker: InProcessWorker,
    broker: Broker,
    db: asyncpg.Pool,
    reference: str,
    actions: list[str] | None,
    expected: list[str],
) -> None:
    body = message(reference, actions)
    row, event = await finished(broker, db, body)
    assert row["status"] == "completed"  # findings never change the status
    assert sorted(f["kind"] for f in event["findings"]) == expected
    stored = await table_rows(db, body["messageId"])
    assert [(r["kind"], r["severity"], r["detail"]) for r in stored] == [
        (f["kind"], f["severity"], f["detail"]) for f in event["findings"]
    ]
    assert all(r["code_oc"] == "OCAA" for r in stored)
    for kind in set(expected):
        counted = worker.metrics.findings.labels("OCAA", kind)._value.get()
        assert counted == expected.count(kind)


async def test_the_bomb_is_refused_before_decoding(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    body = message("BOMB-PNG:photos=3:format=png:bomb=2")
    _, event = await finished(broker, db, body)
    [finding] = event["findings"]
    assert "100000x100000" in finding["detail"]
    assert "not decoded" in finding["detail"]
    qa_error = await db.fetchval("SELECT qa_error FROM photos WHERE width = 100000")
    assert "decompression-bomb limit" in qa_error


async def test_a_photo_reused_for_another_intervention_is_flagged_on_the_second(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    tag = uuid.uuid4().hex[:8]
    first = message(f"FIRST:photos=3:reuse={tag}")
    _, event = await finished(broker, db, first)
    assert event["findings"] == []
    second = message(f"SECOND:photos=3:reuse={tag}")
    _, event = await finished(broker, db, second)
    [finding] = event["findings"]
    assert (finding["kind"], finding["severity"]) == ("reused_photo", "suspect")
    assert finding["relatedMessageId"] == first["messageId"]
    assert "FIRST" in finding["detail"]
    [row] = await table_rows(db, second["messageId"])
    assert str(row["related_message_id"]) == first["messageId"]


async def test_requests_without_photos_carry_an_empty_list(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    _, event = await finished(broker, db, message("NONE:final=204"))
    assert event["status"] == "unavailable"
    assert event["findings"] == []
    assert event["review"] == "none"


async def test_photos_stored_by_an_earlier_attempt_are_checked_from_their_rows(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    # Photo 3's first download fails: attempt 1 stores 1 and 2 (checked), attempt 2 stores 3.
    body = message("RETRIED:photos=3:copy=3:photoerrors=1")
    row, event = await finished(broker, db, body)
    assert row["attempts"] >= 2
    assert [f["kind"] for f in event["findings"]] == ["same_before_after"]


async def test_checks_off(start_worker: StartWorker, broker: Broker, db: asyncpg.Pool) -> None:
    await start_worker({"qa_enabled": False})
    body = message("OFF:photos=3:copy=3:blur=1")
    row, event = await finished(broker, db, body)
    assert row["status"] == "completed"
    assert event["findings"] == []
    assert event["review"] == "none"
    assert await db.fetchval("SELECT count(*) FROM request_reviews") == 0
    assert await db.fetchval("SELECT count(*) FROM photos WHERE phash IS NOT NULL") == 0


async def test_a_failed_request_gets_the_findings_of_what_was_stored(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    body = message("HALF:photos=3:badmagic=1:copy=3")
    row, event = await finished(broker, db, body)
    assert row["status"] == "failed"
    assert [f["kind"] for f in event["findings"]] == ["same_before_after"]
