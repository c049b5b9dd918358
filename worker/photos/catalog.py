"""Stored photos: what the worker knows of them, and their rows (written by attempt outcomes)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from worker.border import INT4, INT8, bounded
from worker.partners.records import PhotoRecord
from worker.photos.inspector import PhotoFacts

# The values of a photo's row that are a partner's text as it came.
FREE_TEXT = ("name", "title", "description", "projection")


@dataclass(frozen=True)
class PhotoSummary:
    """What the result event says of a photo."""

    photo_id: uuid.UUID
    type: str
    storage_key: str
    sha256: str

    def as_event(self) -> dict[str, str]:
        return {
            "photoId": str(self.photo_id),
            "type": self.type,
            "storageKey": self.storage_key,
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class StoredPhoto:
    """A photo whose bytes are in storage, its row still to be written."""

    record: PhotoRecord
    facts: PhotoFacts
    anomalies: tuple[str, ...]
    storage_key: str

    def summary(self) -> PhotoSummary:
        return PhotoSummary(
            self.record.id, self.record.type.value, self.storage_key, self.facts.sha256
        )

    def row(self) -> dict[str, Any]:
        """The `photos` row, as JSON for the outcome statement.

        A number that does not fit its column is left out (NULL); the anomalies keep what the
        record or the header said. The partner's free text (`FREE_TEXT`) is made safe where the
        statement is assembled; every other value was parsed (a UUID, a type, a listed MIME
        type, a date, numbers) or made here.
        """
        record, facts, geo = self.record, self.facts, self.record.geo
        return {
            "photo_id": str(record.id),
            "type": record.type.value,
            "mime_type": record.mime_type,
            "name": record.name,
            "title": record.title,
            "description": record.description,
            "taken_at": record.date.isoformat() if record.date else None,
            "width": bounded(facts.width, INT4),
            "height": bounded(facts.height, INT4),
            "declared_size": bounded(record.size, INT8),
            "size_bytes": facts.size,
            "sha256": facts.sha256,
            "storage_key": self.storage_key,
            "latitude": geo.latitude if geo else None,
            "longitude": geo.longitude if geo else None,
            "projection": geo.projection if geo else None,
            "declared_width": bounded(record.width, INT4),
            "declared_height": bounded(record.height, INT4),
            "anomalies": list(self.anomalies),
        }


# One lookup: an OC and the records of its listing.
Lookup = tuple[str, Sequence[PhotoRecord]]

_KNOWN = """
WITH wanted AS (
    SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[]) AS w(code_oc, photo_id, storage_key)
), revived AS (
    DELETE FROM doomed_objects WHERE storage_key IN (SELECT storage_key FROM wanted)
)
SELECT DISTINCT p.code_oc, p.photo_id, p.type, p.storage_key, p.sha256
FROM photos p JOIN wanted w ON p.code_oc = w.code_oc AND p.photo_id = w.photo_id
"""


async def known_photos(
    pool: asyncpg.Pool, lookups: Sequence[Lookup]
) -> list[dict[uuid.UUID, PhotoSummary]]:
    """For each lookup, the photos of its OC already stored (by any request): no need to
    download them again. One statement for all the lookups (the attempts that listed their
    photos at the same time).

    The same statement cancels the pending deletion of these photos' objects (the purge's
    `doomed_objects`) before any of them is downloaded again: a photo the purge removed is
    stored afresh and stays. One whose object the purge is deleting right now (its entry is
    locked) waits until it is gone, so that the new copy is written after the deletion.
    """
    wanted = [(code, record) for code, records in lookups for record in records]
    rows = await pool.fetch(
        _KNOWN,
        [code for code, _ in wanted],
        [record.id for _, record in wanted],
        [record.storage_key(code) for code, record in wanted],
    )
    found: dict[tuple[str, uuid.UUID], PhotoSummary] = {
        (row["code_oc"], row["photo_id"]): PhotoSummary(
            row["photo_id"], row["type"], row["storage_key"], row["sha256"]
        )
        for row in rows
    }
    return [
        {r.id: found[(code, r.id)] for r in records if (code, r.id) in found}
        for code, records in lookups
    ]
