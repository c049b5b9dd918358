"""When and where the photos were taken, against the intervention (pure)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from worker.findings.model import Finding, PhotoView, RequestView, Severity
from worker.findings.places import describe_distance, metres_between
from worker.settings import Settings


def dates_out_of_window(
    request: RequestView, photos: list[PhotoView], settings: Settings
) -> list[Finding]:
    """Photos taken far from `dateIntervention`: by the camera's clock (EXIF), or else by the
    record's `date`. Nothing to compare without a dateIntervention."""
    if request.date_intervention is None:
        return []
    window = timedelta(hours=settings.qa_date_window_hours)
    found = []
    for photo in photos:
        taken, source, severity = _when(photo)
        if taken is None or abs(taken - request.date_intervention) <= window:
            continue
        detail = (
            f"{photo.type} taken {taken.isoformat(timespec='minutes')} ({source}),"
            f" {_gap(taken - request.date_intervention)} the intervention"
            f" ({request.date_intervention.isoformat(timespec='minutes')});"
            f" window {settings.qa_date_window_hours:g} h"
        )
        found.append(Finding("date_out_of_window", severity, detail, (photo.photo_id,)))
    return found


def _when(photo: PhotoView) -> tuple[datetime | None, str, Severity]:
    # The camera's clock is harder to change by mistake than a record's field.
    if photo.traits.exif_taken_at is not None:
        return photo.traits.exif_taken_at, "EXIF", "suspect"
    return photo.taken_at, "record date", "warning"


def _gap(delta: timedelta) -> str:
    hours = abs(delta.total_seconds()) / 3600
    amount = f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} h"
    return f"{amount} {'after' if delta > timedelta(0) else 'before'}"


def locations_far(photos: list[PhotoView], settings: Settings) -> list[Finding]:
    return [*_gps_against_declared(photos, settings), *_spread(photos, settings)]


def _gps_against_declared(photos: list[PhotoView], settings: Settings) -> list[Finding]:
    """The camera's GPS far from the position the record declares."""
    found = []
    for photo in photos:
        camera, declared = _camera_place(photo), _declared_place(photo)
        if camera is None or declared is None:
            continue
        metres = metres_between(camera, declared)
        if metres > settings.qa_gps_distance_m:
            detail = (
                f"{photo.type}: the EXIF GPS position is {describe_distance(metres)} from the"
                f" declared one (threshold {describe_distance(settings.qa_gps_distance_m)})"
            )
            found.append(Finding("location_far", "suspect", detail, (photo.photo_id,)))
    return found


def _spread(photos: list[PhotoView], settings: Settings) -> list[Finding]:
    """Photos of one intervention taken far apart (each where its camera, else its record,
    places it)."""
    placed = [(p, place) for p in photos if (place := _camera_place(p) or _declared_place(p))]
    if len(placed) < 2:
        return []
    (first, a), (second, b) = max(
        itertools.combinations(placed, 2), key=lambda pair: metres_between(pair[0][1], pair[1][1])
    )
    metres = metres_between(a, b)
    if metres <= settings.qa_spread_m:
        return []
    detail = (
        f"the photos are spread over {describe_distance(metres)} ({first.type} to"
        f" {second.type}; threshold {describe_distance(settings.qa_spread_m)})"
    )
    return [Finding("location_far", "warning", detail, (first.photo_id, second.photo_id))]


def _camera_place(photo: PhotoView) -> tuple[float, float] | None:
    traits = photo.traits
    if traits.exif_latitude is None or traits.exif_longitude is None:
        return None
    return traits.exif_latitude, traits.exif_longitude


def _declared_place(photo: PhotoView) -> tuple[float, float] | None:
    if photo.latitude is None or photo.longitude is None:
        return None
    return photo.latitude, photo.longitude
