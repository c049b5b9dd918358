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
    "pto_reference_unreadable",
    "pto_reference_mismatch",
    "pto_reference_elsewhere",
    "not_same_spot",
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
    "pto_reference_unreadable",
    "pto_reference_mismatch",
    "pto_reference_elsewhere",
    "not_same_spot",
)
# The severity each kind is raised with (some kinds have two, by how sure the check is).
SEVERITIES: dict[Kind, tuple[Severity, ...]] = {
    "missing_type": ("warning",),
    "unpaired": ("warning",),
    "same_before_after": ("warning", "suspect"),
    "reused_photo": ("warning", "suspect"),
    "date_out_of_window": ("warning",),
    "location_far": ("warning",),
    "declared_mismatch": ("info",),
    "low_quality": ("warning",),
    "qa_error": ("info",),
    "pto_reference_unreadable": ("warning",),
    "pto_reference_mismatch": ("suspect",),
    "pto_reference_elsewhere": ("suspect",),
    "not_same_spot": ("warning",),
}
LabelMethod = Literal["barcode", "ocr"]


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
class LabelReading:
    """A PTO reference read on a photo: where (x0, y0, x1, y1, in pixels of the photo as
    stored, upright), how, and how sure (1 for a barcode; the recogniser's score for OCR)."""

    text: str
    box: tuple[int, int, int, int]
    method: LabelMethod
    confidence: float

    def describe(self) -> str:
        how = "from a barcode" if self.method == "barcode" else f"by OCR ({self.confidence:.2f})"
        x0, y0, x1, y1 = self.box
        return f"{self.text}, read {how} at x {x0}-{x1}, y {y0}-{y1}"


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
    label_checked: bool = False  # the PTO reference was looked for (PTO photos)
    label: LabelReading | None = None  # what was found, if anything

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

    def label_columns(self) -> dict[str, Any]:
        """The `photos` columns of the PTO reference read (migration 0016). `label_method` is
        'none' when the reference was looked for and not found, NULL when it was not looked for
        (not a PTO photo, or stored before the check existed)."""
        label = self.label
        return {
            "label_text": label.text if label else None,
            "label_box": list(label.box) if label else None,
            "label_method": label.method if label else ("none" if self.label_checked else None),
            "label_confidence": label.confidence if label else None,
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
    reference_pto: str | None = None  # the message's referencePTO


@dataclass(frozen=True)
class SpotMatch:
    """The figures of one comparison: features found, matches kept, matches that agree."""

    features: tuple[int, int]
    matches: int
    inliers: int
    spread: float  # share of the reduced image covered by the agreeing points (convex hull)

    @property
    def inlier_ratio(self) -> float:
        return self.inliers / self.matches if self.matches else 0.0

    def same_spot(self, min_inliers: int) -> bool:
        return self.inliers >= min_inliers

    def describe(self) -> str:
        return (
            f"{self.inliers} matched points agree with one viewpoint change, of"
            f" {self.matches} matches ({self.inlier_ratio:.0%}); features"
            f" {self.features[0]} and {self.features[1]}; agreeing points cover"
            f" {self.spread:.0%} of the view"
        )
