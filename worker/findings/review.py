"""The checks of one attempt: photos analysed as they are stored, the request's findings at the
end, ready for the outcome statement. A check that cannot run is a qa_error finding; nothing
here ever fails the request or changes its status."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import asyncpg
import structlog

from worker.findings import checks, circumstances
from worker.findings.analyzer import Analyzer
from worker.findings.model import Finding, PhotoTraits, PhotoView, RequestView
from worker.findings.reuse import reused_photos
from worker.photos.catalog import StoredPhoto
from worker.settings import Settings

log = structlog.get_logger()


class PhotoChecks:
    """Started for each photo as soon as it is stored, so decoding overlaps the next download."""

    def __init__(self, analyzer: Analyzer | None) -> None:
        self._analyzer = analyzer
        self._running: dict[uuid.UUID, asyncio.Task[PhotoTraits]] = {}

    def start(self, photo: StoredPhoto, body: bytes | None) -> None:
        if self._analyzer is not None:
            task = asyncio.create_task(self._analyzer.traits(photo, body))
            self._running[photo.record.id] = task

    async def traits(self) -> dict[uuid.UUID, PhotoTraits]:
        """Every started analysis, once finished."""
        results = await asyncio.gather(*self._running.values())
        return dict(zip(self._running, results, strict=True))

    def cancel(self) -> None:
        for task in self._running.values():
            task.cancel()


async def review(
    pool: asyncpg.Pool,
    settings: Settings,
    request: RequestView,
    stored: Sequence[tuple[StoredPhoto, PhotoTraits]],
    known: Sequence[uuid.UUID],
) -> list[Finding]:
    """The request's findings; `known` are its photos stored before this attempt."""
    photos = [view_of(photo, traits) for photo, traits in stored]
    try:
        photos += await known_views(pool, request.code_oc, known)
        reused = await reused_photos(pool, request, photos, settings.qa_near_distance)
    except (asyncpg.PostgresError, OSError, TimeoutError) as exc:
        log.warning("the reuse check could not run", error=repr(exc))
        reused = [Finding("qa_error", "info", f"the reuse check could not run: {exc!r}")]
    return [*compare(request, photos, settings), *reused]


def compare(request: RequestView, photos: list[PhotoView], settings: Settings) -> list[Finding]:
    """Every check that needs nothing but the request and its photos (pure)."""
    return [
        *checks.missing_types(request),
        *checks.unpaired(request, photos),
        *checks.same_before_after(photos, settings.qa_near_distance),
        *circumstances.dates_out_of_window(request, photos, settings),
        *circumstances.locations_far(photos, settings),
        *checks.declared_mismatches(photos),
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


_KNOWN = """
SELECT photo_id, type, sha256, width, height, taken_at, latitude, longitude, anomalies, phash,
    sharpness, brightness, exif_taken_at, exif_latitude, exif_longitude, qa_error
FROM photos WHERE code_oc = $1 AND photo_id = ANY($2::uuid[])
"""


async def known_views(
    pool: asyncpg.Pool, code_oc: str, photo_ids: Sequence[uuid.UUID]
) -> list[PhotoView]:
    """Photos stored before this attempt, as their rows recorded them."""
    if not photo_ids:
        return []
    rows = await pool.fetch(_KNOWN, code_oc, list(photo_ids))
    return [
        PhotoView(
            photo_id=row["photo_id"],
            type=row["type"],
            sha256=row["sha256"],
            width=row["width"],
            height=row["height"],
            taken_at=row["taken_at"],
            latitude=row["latitude"],
            longitude=row["longitude"],
            anomalies=tuple(row["anomalies"]),
            traits=PhotoTraits(
                phash=row["phash"],
                sharpness=row["sharpness"],
                brightness=row["brightness"],
                exif_taken_at=row["exif_taken_at"],
                exif_latitude=row["exif_latitude"],
                exif_longitude=row["exif_longitude"],
                error=row["qa_error"],
            ),
        )
        for row in rows
    ]
