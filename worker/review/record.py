"""A review's end, in one transaction fenced by its lease: the photos' traits, the request's
findings (those found at ingestion are kept, the review's replaced), the row marked reviewed
with the checks' version, and a `photos.reviewed` outbox row when the findings are new.

Findings of the kinds found at ingestion (INGESTION_KINDS) are kept as they are: the listing
they came from is not stored. The event is written on a request's first review, and on a
re-review only if its findings changed: the latest `photos.reviewed` of a request stands
(contract §6).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from worker.border import Sanitizer
from worker.findings.model import Finding, PhotoTraits, RequestView
from worker.findings.requests import CHECKS_VERSION, INGESTION_KINDS
from worker.review.queue import ReviewClaim

_HELD = """
SELECT reviews FROM request_reviews
WHERE lease_id = $1 AND reviewed_at IS NULL FOR UPDATE
"""

# The label columns are written for the photos whose reference was looked for (PTO photos).
_TRAITS = """
UPDATE photos p SET phash = t.phash, sharpness = t.sharpness, brightness = t.brightness,
    exif_taken_at = t.exif_taken_at, exif_latitude = t.exif_latitude,
    exif_longitude = t.exif_longitude, qa_error = t.qa_error, checked_at = now(),
    checks_version = $3,
    label_text = CASE WHEN t.label_method IS NULL THEN p.label_text ELSE t.label_text END,
    label_box = CASE WHEN t.label_method IS NULL THEN p.label_box ELSE t.label_box END,
    label_confidence = CASE WHEN t.label_method IS NULL THEN p.label_confidence
                            ELSE t.label_confidence END,
    label_method = coalesce(t.label_method, p.label_method)
FROM jsonb_to_recordset($2::jsonb) AS t(photo_id uuid, phash bigint, sharpness real,
    brightness real, exif_taken_at timestamptz, exif_latitude float8, exif_longitude float8,
    qa_error text, label_text text, label_box integer[], label_method text,
    label_confidence real)
WHERE p.code_oc = $1 AND p.photo_id = t.photo_id
"""

_FINDINGS = """
SELECT kind, severity, photo_ids, detail, related_message_id
FROM photo_findings WHERE message_id = $1 ORDER BY id
"""

_REPLACE = """
WITH gone AS (
    DELETE FROM photo_findings WHERE message_id = $1 AND kind <> ALL($5::text[])
)
INSERT INTO photo_findings (message_id, code_oc, kind, severity, photo_ids, detail,
    related_message_id, checks_version)
SELECT $1, $2, f.kind, f.severity, f."photoIds", f.detail, f."relatedMessageId", $4
FROM jsonb_to_recordset($3::jsonb) AS f(kind text, severity text, "photoIds" uuid[],
    detail text, "relatedMessageId" uuid)
"""

_DONE = """
UPDATE request_reviews
SET reviewed_at = now(), reviews = reviews + 1, checks_version = $2, spot_pairs = $3::jsonb,
    lease_id = NULL,
    lease_owner = NULL, lease_until = NULL, claims = 0, failures = '{}'
WHERE lease_id = $1
RETURNING reviewed_at, stored_at
"""


@dataclass(frozen=True)
class Reviewed:
    """What the review wrote: `event` is None when nothing changed since the last review."""

    reviewed_at: datetime
    stored_at: datetime
    first: bool
    findings: tuple[dict[str, Any], ...]  # the complete list, as the event has it
    event: dict[str, Any] | None


async def write_review(
    pool: asyncpg.Pool,
    clean: Sanitizer,
    claim: ReviewClaim,
    request: RequestView,
    measured: Mapping[uuid.UUID, PhotoTraits],
    found: Sequence[Finding],
    pairs: Sequence[dict[str, Any]] = (),
) -> Reviewed | None:
    """The review's outcome; None if the lease was lost meanwhile (another reviewer has it).
    `pairs`: the same-spot figures of the pairs compared. Recorded with CHECKS_VERSION."""
    version = CHECKS_VERSION
    traits = [
        _strings_cleaned(clean, {"photo_id": str(pid)} | t.columns() | t.label_columns())
        for pid, t in measured.items()
    ]
    new = clean.payload([finding.as_event() for finding in found])
    async with pool.acquire() as conn, conn.transaction():
        reviews = await conn.fetchval(_HELD, claim.lease_id)
        if reviews is None:
            return None
        await conn.execute(_TRAITS, claim.code_oc, json.dumps(traits), version)
        before = await conn.fetch(_FINDINGS, claim.message_id)
        await conn.execute(
            _REPLACE, claim.message_id, claim.code_oc, json.dumps(new), version, INGESTION_KINDS
        )
        after = await conn.fetch(_FINDINGS, claim.message_id)
        done = await conn.fetchrow(_DONE, claim.lease_id, version, json.dumps(pairs))
        assert done is not None  # the row is locked by this transaction
        findings = tuple(_as_event(row) for row in after)
        changed = _reviewed_part(before) != _reviewed_part(after)
        event = None
        if reviews == 0 or changed:
            event = _event(request, findings, done["reviewed_at"], version)
            await conn.execute(
                "INSERT INTO outbox (message_id, routing_key, body) VALUES ($1, $2, $3)",
                claim.message_id,
                "photos.reviewed",
                json.dumps(event),
            )
    return Reviewed(done["reviewed_at"], done["stored_at"], reviews == 0, findings, event)


def _strings_cleaned(clean: Sanitizer, columns: dict[str, Any]) -> dict[str, Any]:
    """The text values made safe (`Sanitizer.text`); the names are ours, the other values
    numbers or None (`label_box` a list of them). What `clean.payload` gives, at a third of
    the calls: 13 names a photo need no cleaning."""
    return {
        name: clean.text(value) if isinstance(value, str) else value
        for name, value in columns.items()
    }


def _reviewed_part(rows: list[asyncpg.Record]) -> list[dict[str, Any]]:
    return [_as_event(row) for row in rows if row["kind"] not in INGESTION_KINDS]


def _as_event(row: asyncpg.Record) -> dict[str, Any]:
    return Finding(
        row["kind"],
        row["severity"],
        row["detail"],
        tuple(row["photo_ids"]),
        row["related_message_id"],
    ).as_event()


def _event(
    request: RequestView,
    findings: Sequence[dict[str, Any]],
    reviewed_at: datetime,
    version: str,
) -> dict[str, Any]:
    refs = request.references
    return {
        "messageId": str(request.message_id),
        "codeOC": request.code_oc,
        "referencePrestationPrise": refs.get("access"),
        "referenceCommandePriseInterneOC": refs.get("order"),
        "referenceCommandeSousTraitantOI": refs.get("intervention"),
        "findings": list(findings),
        "reviewedAt": reviewed_at.isoformat(),
        "checks": version,
    }
