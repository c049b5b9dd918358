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


async def known_photos(
    pool: asyncpg.Pool, code_oc: str, records: Sequence[PhotoRecord]
) -> dict[uuid.UUID, PhotoSummary]:
    """Photos of this OC already stored (by any request): no need to download them again.

    The same statement cancels the pending deletion of these photos' objects (the purge's
    `doomed_objects`) before any of them is downloaded again: a photo the purge removed is
    stored afresh and stays. One whose object the purge is deleting right now (its entry is
    locked) waits until it is gone, so that the new copy is written after the deletion.
    """
    rows = await pool.fetch(
        "WITH revived AS (DELETE FROM doomed_objects WHERE storage_key = ANY($3::text[]))"
        " SELECT photo_id, type, storage_key, sha256 FROM photos"
        " WHERE code_oc = $1 AND photo_id = ANY($2::uuid[])",
        code_oc,
        [record.id for record in records],
        [record.storage_key(code_oc) for record in records],
    )
    return {row["photo_id"]: PhotoSummary(**dict(row)) for row in rows}
