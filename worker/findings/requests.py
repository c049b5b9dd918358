"""The findings of one request, in two sets: what is known without decoding a photo (written by
the attempt with the final status) and what needs the photos' traits (written by the review
stage). A check that cannot run is a qa_error finding; nothing here ever fails the request or
changes its status."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg
import structlog

from worker.findings import checks, circumstances
from worker.findings.framing import not_same_spot, pto_references
from worker.findings.label_lookup import references_elsewhere
from worker.findings.model import (
    NOT_CHECKED,
    Finding,
    LabelReading,
    PhotoTraits,
    PhotoView,
    RequestView,
    SpotMatch,
)
from worker.findings.reuse import reused_photos
from worker.photos.catalog import StoredPhoto
from worker.settings import Settings

log = structlog.get_logger()

# Recorded with every review and every finding it makes: change it with any check or threshold
# default, so that an analyst knows which rules produced a finding.
CHECKS_VERSION = "2026.12-review.3"  # .2: upright, turned copies, framing; .3: OCR sides


# The kinds found at ingestion (`without_decoding`): a review keeps them and replaces the others.
INGESTION_KINDS = ("missing_type", "unpaired", "declared_mismatch")


async def undecoded(
    pool: asyncpg.Pool,
    request: RequestView,
    stored: Sequence[StoredPhoto],
    known: Sequence[uuid.UUID],
) -> list[Finding]:
    """What the request's listing and records show: `known` are its photos stored before."""
    photos = [view_of(photo, NOT_CHECKED) for photo in stored]
    photos += await known_views(pool, request.code_oc, known)
    return without_decoding(request, photos)


def without_decoding(request: RequestView, photos: list[PhotoView]) -> list[Finding]:
    """Every check of the listing and the records (pure)."""
    return [
        *checks.missing_types(request),
        *checks.unpaired(request, photos),
        *checks.declared_mismatches(photos),
    ]


async def decoded(
    pool: asyncpg.Pool | asyncpg.Connection,
    request: RequestView,
    photos: list[PhotoView],
    settings: Settings,
    compared: Sequence[tuple[PhotoView, PhotoView, SpotMatch]] = (),
) -> list[Finding]:
    """What needs the photos' traits, reuse and framing included: the review stage's findings.
    `compared` are the AVANT/APRES pairs with how far each agrees on one spot."""
    try:
        reused = await reused_photos(pool, request, photos, settings.qa_near_distance)
        reused = await _earlier_only(pool, request, reused)
        pattern = settings.pto_reference_pattern
        elsewhere = await references_elsewhere(pool, request, photos) if pattern else []
    except (asyncpg.PostgresError, OSError, TimeoutError) as exc:
        log.warning("the lookups of other requests could not run", error=repr(exc))
        reused = [Finding("qa_error", "info", f"the reuse check could not run: {exc!r}")]
        elsewhere = []
    framing = [
        *(pto_references(request, photos, settings.pto_reference_pattern) if pattern else []),
        *not_same_spot(compared, settings.qa_same_spot_min_inliers),
    ]
    return [*compare(request, photos, settings), *reused, *framing, *elsewhere]


async def _earlier_only(
    pool: asyncpg.Pool | asyncpg.Connection, request: RequestView, found: list[Finding]
) -> list[Finding]:
    """Reuse of a photo of a request received before this one, never after.

    The review of a request can run after a later request stored the same image: that one is
    the copy, flagged when it is reviewed. The lookup names the earliest request holding the
    image, so when that one came later, none came before.
    """
    related = [f.related_message_id for f in found if f.related_message_id is not None]
    if not related:
        return found
    later = {row["message_id"] for row in await pool.fetch(_LATER, request.message_id, related)}
    return [f for f in found if f.related_message_id not in later]


_LATER = """
SELECT o.message_id FROM photo_requests o, photo_requests m
WHERE m.message_id = $1 AND o.message_id = ANY($2::uuid[])
    AND (o.received_at, o.message_id) > (m.received_at, m.message_id)
"""


def compare(request: RequestView, photos: list[PhotoView], settings: Settings) -> list[Finding]:
    """Every check of the traits that needs nothing but the request and its photos (pure)."""
    return [
        *checks.same_before_after(photos, settings.qa_near_distance),
        *circumstances.dates_out_of_window(request, photos, settings),
        *circumstances.locations_far(photos, settings),
        *checks.low_quality(photos, settings),
        *checks.qa_errors(photos),
    ]


def view_of(photo: StoredPhoto, traits: PhotoTraits) -> PhotoView:
    record, geo = photo.record, photo.record.geo
    return PhotoView(
        photo_id=record.id,
        type=record.type.value,
        sha256=photo.facts.sha256,
        width=photo.facts.width,
        height=photo.facts.height,
        taken_at=record.date,
        latitude=geo.latitude if geo else None,
        longitude=geo.longitude if geo else None,
        anomalies=photo.anomalies,
        traits=traits,
    )


PHOTO_COLUMNS = """photo_id, type, sha256, width, height, taken_at, latitude, longitude, anomalies,
    phash, sharpness, brightness, exif_taken_at, exif_latitude, exif_longitude, qa_error,
    label_text, label_box, label_method, label_confidence"""
_KNOWN = f"SELECT {PHOTO_COLUMNS} FROM photos WHERE code_oc = $1 AND photo_id = ANY($2::uuid[])"  # noqa: S608 - constant columns


async def known_views(
    pool: asyncpg.Pool, code_oc: str, photo_ids: Sequence[uuid.UUID]
) -> list[PhotoView]:
    """Photos stored before this attempt, as their rows recorded them."""
    if not photo_ids:
        return []
    rows = await pool.fetch(_KNOWN, code_oc, list(photo_ids))
    return [row_view(row) for row in rows]


def row_view(row: asyncpg.Record, traits: PhotoTraits | None = None) -> PhotoView:
    """A photo as its row recorded it (PHOTO_COLUMNS), with `traits` measured since if given."""
    return PhotoView(
        photo_id=row["photo_id"],
        type=row["type"],
        sha256=row["sha256"],
        width=row["width"],
        height=row["height"],
        taken_at=row["taken_at"],
        latitude=row["latitude"],
        longitude=row["longitude"],
        anomalies=tuple(row["anomalies"] or ()),
        traits=traits
        or PhotoTraits(
            phash=row["phash"],
            sharpness=row["sharpness"],
            brightness=row["brightness"],
            exif_taken_at=row["exif_taken_at"],
            exif_latitude=row["exif_latitude"],
            exif_longitude=row["exif_longitude"],
            error=row["qa_error"],
            label_checked=row["label_method"] is not None,
            label=_label_of(row),
        ),
    )


def _label_of(row: asyncpg.Record) -> LabelReading | None:
    if row["label_method"] not in ("barcode", "ocr") or row["label_text"] is None:
        return None
    box = tuple(row["label_box"] or (0, 0, 0, 0))
    return LabelReading(
        row["label_text"],
        (box[0], box[1], box[2], box[3]),
        row["label_method"],
        float(row["label_confidence"] or 0.0),
    )
