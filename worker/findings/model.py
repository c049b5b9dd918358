"""What the checks produce: a photo's measured traits, and the findings of a request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Severity = Literal["info", "warning", "suspect"]
Kind = Literal[
    "missing_type",
    "unpaired",
    "same_before_after",
    "reused_photo",
    "date_out_of_window",
    "location_far",
    "declared_mismatch",
    "low_quality",
    "qa_error",
]
KINDS: tuple[Kind, ...] = (
    "missing_type",
    "unpaired",
    "same_before_after",
    "reused_photo",
    "date_out_of_window",
    "location_far",
    "declared_mismatch",
    "low_quality",
    "qa_error",
)


@dataclass(frozen=True)
class Finding:
    """One thing worth a look: `detail` is a sentence for people, `photo_ids` what it is about."""

    kind: Kind
    severity: Severity
    detail: str
    photo_ids: tuple[uuid.UUID, ...] = ()
    related_message_id: uuid.UUID | None = None  # for reused_photo: the other request

    def as_event(self) -> dict[str, Any]:
        """The event's shape (contract §6); also what the outcome statement inserts."""
        event: dict[str, Any] = {
            "kind": self.kind,
            "severity": self.severity,
            "photoIds": [str(photo_id) for photo_id in self.photo_ids],
            "detail": self.detail,
        }
        if self.related_message_id is not None:
            event["relatedMessageId"] = str(self.related_message_id)
        return event


@dataclass(frozen=True)
class PhotoTraits:
    """What decoding a photo told: NULL columns where nothing could be measured."""

    phash: int | None = None  # signed 64-bit, as PostgreSQL's bigint holds it; upright
    # The hashes of the photo mirrored or rotated (hashing.TURNS[1:]), for the reuse lookup to
    # find a turned copy; computed with `phash`, never stored (rows give back only `phash`).
    phash_turns: tuple[int, ...] = ()
    sharpness: float | None = None
    brightness: float | None = None
    exif_taken_at: datetime | None = None
    exif_latitude: float | None = None
    exif_longitude: float | None = None
    error: str | None = None  # why (part of) the image could not be checked

    def columns(self) -> dict[str, Any]:
        """The `photos` columns, as JSON for the outcome statement."""
        return {
            "phash": self.phash,
            "sharpness": self.sharpness,
            "brightness": self.brightness,
            "exif_taken_at": self.exif_taken_at.isoformat() if self.exif_taken_at else None,
            "exif_latitude": self.exif_latitude,
            "exif_longitude": self.exif_longitude,
            "qa_error": self.error,
        }


NOT_CHECKED = PhotoTraits()


@dataclass(frozen=True)
class PhotoView:
    """What the checks compare of one photo of the request: its record, its bytes, its traits."""

    photo_id: uuid.UUID
    type: str
    sha256: str
    width: int | None
    height: int | None
    taken_at: datetime | None  # the record's `date`
    latitude: float | None  # the record's geoPositionCoords
    longitude: float | None
    anomalies: tuple[str, ...] = ()
    traits: PhotoTraits = field(default=NOT_CHECKED)


@dataclass(frozen=True)
class RequestView:
    """What the message declared, and the photo types the OC listed."""

    message_id: uuid.UUID
    code_oc: str
    references: dict[str, str | None]
    actions: tuple[str, ...]
    date_intervention: datetime | None
    listed_types: frozenset[str]
