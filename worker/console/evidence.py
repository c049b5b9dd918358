"""The evidence behind a photo's findings, as people read it: the declared and the EXIF date and
position side by side (with the gap, the distance and a map link), the measured sharpness and
light against the thresholds the checks used, and the name a download gets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from worker.console.formats import duration
from worker.console.voice import Voice
from worker.findings.places import describe_distance, metres_between
from worker.settings import Settings


@dataclass(frozen=True)
class Measure:
    """A measured value against its threshold: `ok` false means a check would flag it."""

    value: str
    ok: bool
    verdict: str


def evidence(photo: dict[str, Any], settings: Settings, voice: Voice) -> dict[str, Any]:
    """What the card and the viewer show beside a photo, computed from its `photos` row."""
    declared = _point(photo.get("latitude"), photo.get("longitude"))
    exif = _point(photo.get("exif_latitude"), photo.get("exif_longitude"))
    return {
        "date_gap": date_gap(photo.get("taken_at"), photo.get("exif_taken_at"), voice),
        "declared_map": map_url(declared),
        "exif_map": map_url(exif),
        "distance": describe_distance(metres_between(declared, exif))
        if declared and exif
        else None,
        "sharpness": sharpness(photo.get("sharpness"), settings, voice),
        "brightness": brightness(photo.get("brightness"), settings, voice),
    }


def date_gap(declared: datetime | None, exif: datetime | None, voice: Voice) -> str | None:
    """`2 d 3 h before the declared date`, `same minute`; None when either is missing."""
    if declared is None or exif is None:
        return None
    seconds = (exif - declared).total_seconds()
    if abs(seconds) < 60:
        return voice.gettext("same minute")
    gap = duration(abs(seconds), voice, precise=False)
    for nothing in (" 0 h", " 0 min", " 0 s"):  # `2 d`, not `2 d 0 h`
        gap = gap.removesuffix(nothing)
    if seconds > 0:
        return voice.gettext("%(gap)s after the declared date") % {"gap": gap}
    return voice.gettext("%(gap)s before the declared date") % {"gap": gap}


def map_url(point: tuple[float, float] | None) -> str | None:
    if point is None:
        return None
    lat, lon = (f"{value:.6f}" for value in point)
    return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=18/{lat}/{lon}"


def sharpness(value: float | None, settings: Settings, voice: Voice) -> Measure | None:
    if value is None:
        return None
    limit = f"{settings.qa_blur_below:g}"
    if value < settings.qa_blur_below:
        return Measure(
            f"{value:.0f}", False, voice.gettext("blurred: below %(limit)s") % {"limit": limit}
        )
    text = voice.gettext("sharp enough: %(limit)s or more") % {"limit": limit}
    return Measure(f"{value:.0f}", True, text)


def brightness(value: float | None, settings: Settings, voice: Voice) -> Measure | None:
    if value is None:
        return None
    dark, bright = settings.qa_dark_below, settings.qa_bright_above
    limits = {"dark": f"{dark:g}", "bright": f"{bright:g}"}
    if value < dark:
        return Measure(f"{value:.0f}", False, voice.gettext("too dark: below %(dark)s") % limits)
    if value > bright:
        text = voice.gettext("too bright: above %(bright)s") % limits
        return Measure(f"{value:.0f}", False, text)
    return Measure(f"{value:.0f}", True, voice.gettext("within %(dark)s to %(bright)s") % limits)


def download_names(photos: list[dict[str, Any]], reference: str) -> dict[Any, str]:
    """`REF_TYPE.jpg` per photoId; a second photo of the same type gets `REF_TYPE_2.jpg`."""
    names: dict[Any, str] = {}
    seen: dict[str, int] = {}
    stem_ref = _safe(reference)
    for photo in photos:
        stem = f"{stem_ref}_{_safe(photo['type'])}"
        seen[stem] = seen.get(stem, 0) + 1
        suffix = f"_{seen[stem]}" if seen[stem] > 1 else ""
        extension = "png" if photo["mime_type"] == "image/png" else "jpg"
        names[photo["photo_id"]] = f"{stem}{suffix}.{extension}"
    return names


def _safe(text: str) -> str:
    # A reference is the OC's free text: keep what every file system accepts.
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text).strip(".") or "photo"


def _point(lat: float | None, lon: float | None) -> tuple[float, float] | None:
    return None if lat is None or lon is None else (lat, lon)
