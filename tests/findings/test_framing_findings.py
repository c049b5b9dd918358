"""The framing findings (pure), the lookup of a reference read elsewhere (real PostgreSQL), and
the message's referencePTO stored at intake."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace

import asyncpg
import pytest

from worker.findings.framing import not_same_spot, pto_references, spot_pairs
from worker.findings.label_lookup import references_elsewhere, store_reading
from worker.findings.model import (
    SEVERITIES,
    LabelReading,
    PhotoTraits,
    PhotoView,
    RequestView,
    SpotMatch,
)
from worker.intake.message import parse_message
from worker.intake.requests import insert_requests

PATTERN = "[A-Z]{2}-[0-9A-Z]{4}-[0-9A-Z]{4}"
READ = LabelReading("AB-1O2C-3D4E", (10, 20, 300, 60), "ocr", 0.97)


def photo(photo_type: str, *, label: LabelReading | None = None, checked: bool = True) -> PhotoView:
    return PhotoView(
        photo_id=uuid.uuid4(),
        type=photo_type,
        sha256=uuid.uuid4().hex * 2,
        width=1600,
        height=1200,
        taken_at=None,
        latitude=None,
        longitude=None,
        traits=PhotoTraits(label_checked=checked, label=label),
    )


def request(reference_pto: str | None = None, intervention: str = "NEW-1") -> RequestView:
    return RequestView(
        message_id=uuid.uuid4(),
        code_oc="ABCD",
        references={"intervention": intervention, "order": None, "access": None},
        actions=("POSE_PTO",),
        date_intervention=None,
        listed_types=frozenset({"PTO"}),
        reference_pto=reference_pto,
    )


def test_a_label_without_a_reference_is_unreadable() -> None:
    [finding] = pto_references(request("AB-1O2C-3D4E"), [photo("PTO")], PATTERN)
    assert (finding.kind, finding.severity) == ("pto_reference_unreadable", "warning")
    assert PATTERN in finding.detail
    assert finding.kind in SEVERITIES


def test_another_reference_is_a_mismatch_a_twin_is_not() -> None:
    pto = photo("PTO", label=READ)
    assert pto_references(request("AB-102C-3D4E"), [pto], PATTERN) == []  # O read for 0
    assert pto_references(request(None), [pto], PATTERN) == []
    [finding] = pto_references(request("AB-1O2C-3D4F"), [pto], PATTERN)
    assert (finding.kind, finding.severity) == ("pto_reference_mismatch", "suspect")
    assert "AB-1O2C-3D4E, read by OCR (0.97) at x 10-300, y 20-60" in finding.detail
    assert "referencePTO is AB-1O2C-3D4F" in finding.detail


def test_photos_not_checked_or_not_pto_raise_nothing() -> None:
    photos = [photo("PTO", checked=False), photo("PBO_AVANT")]
    assert pto_references(request("AB-1O2C-3D4E"), photos, PATTERN) == []


def test_pairs_and_not_same_spot() -> None:
    before, after, other = photo("PBO_AVANT"), photo("PBO_APRES"), photo("PM_APRES")
    copy = replace(after, photo_id=uuid.uuid4(), sha256=before.sha256)
    assert spot_pairs([before, after, other, copy]) == [(before, after)]
    few = SpotMatch((900, 880), 120, 12, 0.05)
    many = SpotMatch((900, 880), 400, 300, 0.6)
    [finding] = not_same_spot([(before, after, few), (before, after, many)], 80)
    assert (finding.kind, finding.severity) == ("not_same_spot", "warning")
    assert finding.photo_ids == (before.photo_id, after.photo_id)
    assert "12 matched points agree" in finding.detail
    assert "at least 80" in finding.detail


async def stored_pto(
    db: asyncpg.Pool,
    text: str | None,
    *,
    oc: str = "ABCD",
    intervention: str = "OLD-1",
    reference_pto: str | None = None,
) -> uuid.UUID:
    message_id, photo_id = uuid.uuid4(), uuid.uuid4()
    await db.execute(
        "INSERT INTO photo_requests (message_id, code_oc, reference_commande_sous_traitant_oi,"
        " reference_pto, status) VALUES ($1, $2, $3, $4, 'completed')",
        message_id,
        oc,
        intervention,
        reference_pto,
    )
    await db.execute(
        "INSERT INTO photos (code_oc, photo_id, type, mime_type, size_bytes, sha256,"
        " storage_key) VALUES ($1, $2, 'PTO', 'image/jpeg', 1, $3, 'k')",
        oc,
        photo_id,
        "a" * 64,
    )
    await db.execute(
        "INSERT INTO photo_request_photos VALUES ($1, $2, $3)", message_id, oc, photo_id
    )
    label = LabelReading(text, (1, 2, 3, 4), "barcode", 1.0) if text else None
    await store_reading(db, oc, photo_id, PhotoTraits(label_checked=True, label=label))
    return message_id


@pytest.mark.services
async def test_the_same_reference_on_another_access(db: asyncpg.Pool) -> None:
    await stored_pto(db, "AB-9999-9999")
    await stored_pto(db, None)  # looked for, nothing read
    first = await stored_pto(db, "AB-102C-3D4E", oc="WXYZ")  # the twin of what is read here
    [finding] = await references_elsewhere(db, request(), [photo("PTO", label=READ)])
    assert (finding.kind, finding.severity) == ("pto_reference_elsewhere", "suspect")
    assert finding.related_message_id == first
    assert "WXYZ" in finding.detail


@pytest.mark.services
async def test_the_same_access_or_outlet_declared_twice_is_not_elsewhere(db: asyncpg.Pool) -> None:
    await stored_pto(db, "AB-1O2C-3D4E", intervention="NEW-1")  # this intervention, sent again
    await stored_pto(db, "AB-1O2C-3D4E", oc="WXYZ", reference_pto="AB-1O2C-3D4E")
    assert await references_elsewhere(db, request("AB-1O2C-3D4E"), [photo("PTO", label=READ)]) == []
    # Without this request's own referencePTO, nothing says it is the same outlet.
    [finding] = await references_elsewhere(db, request(), [photo("PTO", label=READ)])
    assert "WXYZ" in finding.detail


@pytest.mark.services
async def test_the_lookup_is_an_index_probe(db: asyncpg.Pool) -> None:
    async with db.acquire() as conn:
        await conn.execute("SET enable_seqscan = off")
        plan = await conn.fetchval(
            "EXPLAIN (FORMAT JSON) SELECT photo_id FROM photos"
            " WHERE translate(label_text, 'OISB', '0158') = 'AB-1020-3D4E'"
            " AND label_text IS NOT NULL AND type = 'PTO'"
        )
    assert "photos_label_key" in json.dumps(plan)


@pytest.mark.services
async def test_intake_stores_the_reference_pto(db: asyncpg.Pool) -> None:
    body = {
        "messageId": str(uuid.uuid4()),
        "flux": "CR_STOC",
        "codeOC": "ABCD",
        "referenceCommandeSousTraitantOI": "INT-1",
        "referencePTO": "AB-1234-5678",
    }
    without = {**body, "messageId": str(uuid.uuid4())}
    del without["referencePTO"]
    messages = [parse_message(json.dumps(b).encode()) for b in (body, without)]
    assert await insert_requests(db, messages) == [True, True]
    rows = await db.fetch(
        "SELECT reference_pto FROM photo_requests WHERE message_id = ANY($1::uuid[])"
        " ORDER BY reference_pto NULLS LAST",
        [m.message_id for m in messages],
    )
    assert [row["reference_pto"] for row in rows] == ["AB-1234-5678", None]


def test_a_reference_pto_with_control_characters_is_refused() -> None:
    body = b'{"messageId": "6f1c2d9e-1111-4a4a-9b9b-000000000001", "flux": "CR_STOC",'
    body += (
        b' "codeOC": "ABCD", "referenceCommandeSousTraitantOI": "I", "referencePTO": "A\\u0000"}'
    )
    with pytest.raises(Exception, match="referencePTO"):
        parse_message(body)


def test_a_pattern_that_does_not_compile_is_refused_at_start() -> None:
    from worker.settings import ConfigError, load_settings

    with pytest.raises(ConfigError, match=r"WORKER_PTO_REFERENCE_PATTERN: .*not a regular"):
        load_settings(_env_file=None, pto_reference_pattern="[A-Z")
